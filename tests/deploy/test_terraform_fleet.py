"""The pools and the daemon agree with the adapter: tags, rules, hook, IAM, table, config."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from controlplane.aws.interruption_events import GONE_STATES, KINDS
from controlplane.aws.pool_rules import (
    ATTRIBUTE_TAG_PREFIX,
    CLUSTER_TAG,
    POOL_TAG,
    RULE_TAGS,
    PoolRules,
    rules_with_overrides,
)
from controlplane.config import AwsConfig, load_settings
from tests.deploy.hcl import (
    AGENT_POOL,
    CONTROL_PLANE,
    MODULES,
    SCHEDULED,
    console,
    labelled,
    load,
    locals_of,
    needs_terraform,
    resources,
    single,
    strings,
    tf_files,
)

# ---- tags, hook, IAM, table -----------------------------------------------------------------


def test_discovery_tags_are_the_adapters_tags() -> None:
    tags = locals_of(AGENT_POOL)["discovery_tags"]
    keys = set(re.findall(r'"(controlplane:[^"$]*)', tags))
    # "controlplane:" alone is the rule overrides' prefix (test_rule_overrides_...).
    assert keys == {CLUSTER_TAG, POOL_TAG, ATTRIBUTE_TAG_PREFIX, "controlplane:"}
    assert f'"{CLUSTER_TAG}" = var.cluster' in tags
    assert f'"{POOL_TAG}" = var.pool' in tags
    assert f'"{ATTRIBUTE_TAG_PREFIX}${{k}}" => v' in tags
    for asg in resources(AGENT_POOL, "aws_autoscaling_group").values():
        tag = single(asg, "dynamic")["tag"]
        assert "local.discovery_tags" in tag["for_each"]
        assert single(tag, "content")["propagate_at_launch"] is True


def test_rule_overrides_are_the_adapters_rules() -> None:
    condition = labelled(AGENT_POOL, "variable")["rules"]["validation"][0]["condition"]
    assert set(re.findall(r'"([a-z_]+)"', condition)) == set(RULE_TAGS)
    tags = locals_of(AGENT_POOL)["discovery_tags"]
    assert '{for k, v in var.rules : "controlplane:${k}" => v}' in tags
    assert {f"controlplane:{rule}" for rule in RULE_TAGS} == set(RULE_TAGS.values())


@needs_terraform
def test_pool_tags_read_back_as_the_adapter_reads_them(tmp_path: Path) -> None:
    variables = {
        "cluster": "prod-mesos",
        "pool": "batch",
        "attributes": {"tier": "batch", "gpu": "none"},
        "rules": {"min_idle": "2", "hourly_price": "0.768", "fitness": "spread"},
    }
    tags = console([AGENT_POOL / "tags.tf"], variables, "local.discovery_tags", tmp_path)
    assert tags[CLUSTER_TAG] == "prod-mesos"
    assert tags[POOL_TAG] == "batch"
    assert tags[f"{ATTRIBUTE_TAG_PREFIX}tier"] == "batch"
    rules = rules_with_overrides(PoolRules(), tags, "group prod-mesos-batch-a")
    assert (rules.min_idle, rules.hourly_price, rules.fitness) == (2, 0.768, "spread")
    extra = console([AGENT_POOL / "tags.tf"], variables, "local.extra_attributes", tmp_path)
    assert extra == ";gpu:none;tier:batch"


def test_no_other_resource_carries_controlplane_tags() -> None:
    # The daemon's own group must not look like a pool.
    for directory in (CONTROL_PLANE, SCHEDULED):
        text = "\n".join(s for p in tf_files(directory) for s in strings(load(p).get("resource")))
        assert "controlplane:pool" not in text
        assert "discovery_tags" not in text


def _documents(directory: Path) -> dict[str, Any]:
    documents: dict[str, Any] = {}
    for block in [b for p in tf_files(directory) for b in load(p).get("data", [])]:
        documents.update(block.get("aws_iam_policy_document", {}))
    return documents


def _policy(directory: Path, doc: str) -> list[dict[str, Any]]:
    """A policy document's statements, those of its `source_policy_documents` included
    (`module.<name>.json` of a module in this repo: its `json` output's document)."""
    body = _documents(directory)[doc]
    statements = list(body.get("statement", []))
    # `dynamic "statement"` blocks: every statement the document can hold, whatever its mode.
    for dynamic in body.get("dynamic", []):
        for block in _as_list(dynamic.get("statement", [])):
            statements += _as_list(block["content"])
    calls = labelled(directory, "module")
    for source in body.get("source_policy_documents", []):
        name = re.fullmatch(r"\$\{module\.(\w+)\.json\}", source)
        assert name is not None, f"{doc}: unresolvable source {source}"
        call = calls[name.group(1)]
        # The module's policy is scoped to this module's cluster, table and key.
        assert call["cluster"] == "${var.cluster}"
        module = (directory / call["source"]).resolve()
        output = labelled(module, "output")["json"]["value"]
        inner = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", output)
        assert inner is not None, output
        statements += _policy(module, inner.group(1))
    return statements


def _as_list(value: Any) -> list[dict[str, Any]]:
    return value if isinstance(value, list) else [value]


def test_iam_acts_only_on_groups_tagged_with_the_cluster() -> None:
    for directory, doc in ((CONTROL_PLANE, "daemon"), (SCHEDULED, "lambda")):
        statements = {s["sid"]: s for s in _policy(directory, doc)}
        assert len(statements) == len(_policy(directory, doc)), f"{doc}: a sid twice"
        act = statements["ActOnThisClustersGroups"]
        assert set(act["actions"]) == {
            "autoscaling:SetDesiredCapacity",
            "autoscaling:TerminateInstanceInAutoScalingGroup",
            "autoscaling:SetInstanceProtection",
            "autoscaling:CompleteLifecycleAction",
            "autoscaling:RecordLifecycleActionHeartbeat",
        }
        condition = single(act, "condition")
        assert condition["variable"] == f"aws:ResourceTag/{CLUSTER_TAG}"
        assert condition["values"] == ["${var.cluster}"]
        table = statements["StateTable"]
        assert table["resources"] != ["*"]
        assert all(a.startswith("dynamodb:") for a in table["actions"])
        for statement in statements.values():
            if statement["resources"] == ["*"]:
                assert all(":Describe" in a for a in statement["actions"]), statement["sid"]


def test_termination_hook_default_is_the_configs() -> None:
    default = AwsConfig.model_fields["termination_hook"].default
    for directory in (AGENT_POOL, CONTROL_PLANE, SCHEDULED):
        assert labelled(directory, "variable")["termination_hook_name"]["default"] == default
    asg = resources(AGENT_POOL, "aws_autoscaling_group")["zone"]
    hook = single(asg, "initial_lifecycle_hook")
    assert hook["name"] == "${var.termination_hook_name}"
    assert hook["lifecycle_transition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert hook["default_result"] == "CONTINUE"
    heartbeat = labelled(AGENT_POOL, "variable")["termination_hook_heartbeat_s"]["default"]
    assert heartbeat == 900


def test_agent_groups_leave_desired_to_the_control_plane() -> None:
    asg = resources(AGENT_POOL, "aws_autoscaling_group")["zone"]
    assert asg["for_each"] == "${var.subnets}"
    assert asg["vpc_zone_identifier"] == ["${each.value}"]
    assert asg["name"] == "${local.name}-${each.key}"
    assert asg["suspended_processes"] == ["AZRebalance"]
    assert asg["protect_from_scale_in"] == "${var.scale_in_protection}"
    assert labelled(AGENT_POOL, "variable")["scale_in_protection"]["default"] is True
    assert single(asg, "lifecycle")["ignore_changes"] == ["desired_capacity"]


@pytest.mark.parametrize("directory", [AGENT_POOL, CONTROL_PLANE], ids=["agent", "daemon"])
def test_launch_templates_require_imdsv2_and_encrypt_the_root(directory: Path) -> None:
    (template,) = resources(directory, "aws_launch_template").values()
    metadata = single(template, "metadata_options")
    assert metadata["http_tokens"] == "required"
    assert metadata["http_put_response_hop_limit"] == 1
    # The agent's user data reads its group's name from the instance tags.
    tags = "enabled" if directory == AGENT_POOL else "disabled"
    assert metadata["instance_metadata_tags"] == tags
    ebs = single(single(template, "block_device_mappings"), "ebs")
    assert ebs["encrypted"] is True
    assert ebs["kms_key_id"] == "${var.kms_key_arn}"


def test_state_table_is_keyed_by_cluster_and_item() -> None:
    table = resources(CONTROL_PLANE, "aws_dynamodb_table")["state"]
    assert table["hash_key"] == "cluster"
    assert table["range_key"] == "item"
    assert {(a["name"], a["type"]) for a in table["attribute"]} == {("cluster", "S"), ("item", "S")}
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert single(table, "point_in_time_recovery")["enabled"] is True
    sse = single(table, "server_side_encryption")
    assert sse == {"enabled": True, "kms_key_arn": "${var.kms_key_arn}"}
    default = labelled(CONTROL_PLANE, "variable")["state_table_name"]["default"]
    assert default == AwsConfig.model_fields["state_table"].default


@needs_terraform
def test_daemon_config_file_loads_as_settings(tmp_path: Path) -> None:
    variables: dict[str, Any] = {
        "cluster": "prod-mesos",
        "mesos_masters": ["http://10.0.0.10:5050", "10.0.1.10:5050"],
        "mesos_principal": "cp",
        "mesos_secret_arn": "arn:aws:ssm:eu-central-1:123456789012:parameter/cp/mesos",
        "state_table_name": "cp-state",
        "termination_hook_name": "drain-hook",
        "demand_source": "framework",
        "demand_port": 8080,
        "ops_port": 9102,
        "api_tokens_secret_arn": TOKENS_ARN,
        "api_tls_cert_path": None,
        "api_tls_key_path": None,
        "task_commands": {"sleep": ["/bin/sleep", "60"], "noop": ["/bin/true"]},
        "default_task_command": "noop",
        "allowed_cidrs": ["10.1.0.0/16"],
        "allowed_security_group_ids": [],
    }
    queue = "https://sqs.eu-central-1.amazonaws.com/123456789012/prod-mesos-cp-interruptions"
    toml = console(
        [CONTROL_PLANE / "config.tf"],
        variables,
        "local.config_toml",
        tmp_path,
        {"region": "eu-central-1", "interruption_queue_url": queue},
    )
    path = tmp_path / "controlplane.toml"
    path.write_text(toml, encoding="utf-8")
    settings = load_settings(path)
    assert settings.cluster == "prod-mesos"
    assert settings.mesos.masters == ["http://10.0.0.10:5050", "10.0.1.10:5050"]
    assert settings.mesos.credentials() is None  # the secret is read from its ARN
    assert settings.mesos.secret_arn == variables["mesos_secret_arn"]
    assert "\nsecret =" not in toml
    assert (settings.aws.region, settings.aws.state_table) == ("eu-central-1", "cp-state")
    assert settings.aws.termination_hook == "drain-hook"
    assert settings.aws.interruption_queue_url == queue
    assert (settings.ops.host, settings.ops.port) == ("0.0.0.0", 9102)
    assert (settings.demand.listen_host, settings.demand.listen_port) == ("0.0.0.0", 8080)
    assert settings.demand.access.tokens_secret == TOKENS_ARN
    assert settings.ops.access.tokens_secret == TOKENS_ARN
    assert settings.demand.commands == {"sleep": ["/bin/sleep", "60"], "noop": ["/bin/true"]}
    assert settings.daemon_problems() == []
    # Nobody allowed in: both APIs stay on loopback.
    variables.update(allowed_cidrs=[])
    toml = console(
        [CONTROL_PLANE / "config.tf"],
        variables,
        "local.config_toml",
        tmp_path,
        {"region": "eu-central-1", "interruption_queue_url": None},
    )
    path.write_text(toml, encoding="utf-8")
    settings = load_settings(path)
    assert (settings.ops.host, settings.demand.listen_host) == ("127.0.0.1", "127.0.0.1")


TOKENS_ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:cp-tokens"


def _api_calls() -> set[str]:
    """`service:Operation` of every AWS call the daemon and the Lambda make (caller.read/write)."""
    session = botocore.session.get_session()
    services = {
        prefix: set(session.get_service_model(name).operation_names)
        for prefix, name in (
            ("autoscaling", "autoscaling"),
            ("ec2", "ec2"),
            ("dynamodb", "dynamodb"),
            ("secretsmanager", "secretsmanager"),
            ("ssm", "ssm"),
            ("sqs", "sqs"),
        )
    }
    repo = MODULES.parents[1]
    sources = [
        p
        for root in (repo / "controlplane", repo / "lambdas")
        for p in root.rglob("*.py")
        if not {"demo", "sim"} & set(p.relative_to(root).parts)
    ]
    calls: set[str] = set()
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in ("read", "write") or len(node.args) < 2:
                continue
            op = node.args[1]
            if not (isinstance(op, ast.Constant) and isinstance(op.value, str)):
                continue
            owners = [prefix for prefix, ops in services.items() if op.value in ops]
            assert len(owners) == 1, f"{path}: {op.value} belongs to {owners}"
            calls.add(f"{owners[0]}:{op.value}")
    # StateStore.create_table serves tests and the demo; Terraform creates the table.
    calls -= {"dynamodb:CreateTable", "dynamodb:DescribeTable"}
    # A batch call is allowed by its single call's action.
    return {BATCH_ACTIONS.get(c, c) for c in calls}


BATCH_ACTIONS = {"sqs:DeleteMessageBatch": "sqs:DeleteMessage"}


def test_iam_allows_every_call_the_code_makes_and_no_other_fleet_or_table_call() -> None:
    calls = _api_calls()
    assert {"autoscaling:SetDesiredCapacity", "dynamodb:TransactWriteItems"} <= calls
    for directory, doc in ((CONTROL_PLANE, "daemon"), (SCHEDULED, "lambda")):
        statements = _policy(directory, doc)
        allowed = {a for s in statements for a in s["actions"]}
        assert sorted(calls - allowed) == [], f"{doc}: calls the policy does not allow"
        # The Lambda's VPC networking is the platform's, not the code's.
        fleet = {
            a
            for s in statements
            if s["sid"]
            in (
                "StateTable",
                "ReadFleet",
                "ActOnThisClustersGroups",
                "ReadNamedSecrets",
                "ReadNamedParameters",
                "ReadInterruptions",
            )
            for a in s["actions"]
            if a not in ("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets")
        }
        assert sorted(fleet - calls) == [], f"{doc}: allowed but never called"


def test_the_interruption_rules_send_exactly_the_events_the_loop_reads() -> None:
    rules = locals_of(MODULES / "interruptions")["rules"]
    sent = {
        (source, kind)
        for rule in rules.values()
        for source in rule["pattern"]["source"]
        for kind in rule["pattern"]["detail-type"]
    }
    assert sent == set(KINDS)
    states = rules["state"]["pattern"]["detail"]["state"]
    assert set(states) == GONE_STATES  # the others are not acted on: not sent
    queue = resources(MODULES / "interruptions", "aws_sqs_queue")
    assert all("kms_master_key_id" in q for q in queue.values())  # encrypted, both
