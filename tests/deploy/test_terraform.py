"""terraform/ agrees with the code: variables, module calls, settings, tags, hook and table.

The modules are parsed with python-hcl2 (no provider, no network); where an expression
matters (the Lambda's environment, the daemon's config file, the schedule expressions) it is
evaluated with `terraform console` when a terraform binary is on PATH.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from controlplane.aws.pool_rules import (
    ATTRIBUTE_TAG_PREFIX,
    CLUSTER_TAG,
    POOL_TAG,
    RULE_TAGS,
    PoolRules,
    rules_with_overrides,
)
from controlplane.config import ENV_PREFIX, AwsConfig, ScheduleConfig, Settings, load_settings
from lambdas.scheduled_scaling import handler as lambda_handler
from lambdas.scheduled_scaling.events import parse_event
from tests.deploy.hcl import (
    EXAMPLES,
    MODULE_META,
    MODULES,
    console,
    labelled,
    load,
    locals_of,
    resources,
    root_dirs,
    single,
    strings,
    terraform_binary,
    tf_files,
    var_refs,
)

AGENT_POOL = MODULES / "agent_pool"
CONTROL_PLANE = MODULES / "control_plane"
SCHEDULED = MODULES / "scheduled_scaling"
COMPLETE = EXAMPLES / "complete"
HANDLER = "lambdas.scheduled_scaling.handler.handler"
ENV_NAME = re.compile(rf"\b{ENV_PREFIX}[A-Z0-9_]+\b")

needs_terraform = pytest.mark.skipif(terraform_binary() is None, reason="no terraform binary")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)


def _ids(dirs: list[Path]) -> list[str]:
    return [f"{d.parent.name}/{d.name}" for d in dirs]


# ---- layout and variables -------------------------------------------------------------------


@pytest.mark.parametrize("directory", root_dirs(), ids=_ids(root_dirs()))
def test_every_variable_is_typed_described_and_used(directory: Path) -> None:
    declared = labelled(directory, "variable")
    for name, body in declared.items():
        assert "type" in body, f"{directory.name}: variable {name} has no type"
        assert body.get("description"), f"{directory.name}: variable {name} has no description"
        for validation in body.get("validation", []):
            # required_version >= 1.5: a validation may refer to its own variable only.
            assert var_refs(validation["condition"]) == {name}, f"{name}: {validation}"
    others = [p for p in tf_files(directory) if p.name != "variables.tf"]
    used = var_refs([load(p) for p in others])
    assert sorted(used - set(declared)) == [], f"{directory.name}: undeclared variables"
    assert sorted(set(declared) - used) == [], f"{directory.name}: unused variables"


@pytest.mark.parametrize("directory", root_dirs(), ids=_ids(root_dirs()))
def test_every_root_pins_terraform_and_the_aws_provider(directory: Path) -> None:
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (directory / name).is_file(), f"{directory.name}: no {name}"
    terraform = single(load(directory / "versions.tf"), "terraform")
    assert terraform["required_version"] == ">= 1.5"
    aws = single(terraform, "required_providers")["aws"]
    assert aws == {"source": "hashicorp/aws", "version": "~> 5.0"}
    for name, body in labelled(directory, "output").items():
        assert body.get("description"), f"{directory.name}: output {name} has no description"


def test_every_module_has_a_readme() -> None:
    for directory in root_dirs():
        assert (directory / "README.md").is_file(), directory


def test_example_module_calls_pass_declared_and_all_required_variables() -> None:
    calls = labelled(COMPLETE, "module")
    assert set(calls) == {"control_plane", "pool_batch", "pool_services", "scheduled_scaling"}
    for name, call in calls.items():
        source = (COMPLETE / call["source"]).resolve()
        assert source.parent == MODULES.resolve(), f"{name}: source {call['source']}"
        declared = labelled(source, "variable")
        given = set(call) - MODULE_META
        assert sorted(given - set(declared)) == [], f"module {name}: unknown arguments"
        required = {v for v, body in declared.items() if "default" not in body}
        assert sorted(required - given) == [], f"module {name}: required variables missing"


def test_example_has_two_pools_over_the_same_three_zones() -> None:
    calls = labelled(COMPLETE, "module")
    pools = {c["pool"] for c in calls.values() if c["source"].endswith("/agent_pool")}
    assert pools == {"batch", "services"}
    subnets = labelled(COMPLETE, "variable")["private_subnets"]
    assert "length(var.private_subnets) == 3" in subnets["validation"][0]["condition"]


# ---- the Lambda -----------------------------------------------------------------------------


def _function() -> dict[str, Any]:
    functions = resources(SCHEDULED, "aws_lambda_function")
    assert len(functions) == 1
    return next(iter(functions.values()))


def test_lambda_handler_runtime_and_bundle() -> None:
    fn = _function()
    assert fn["handler"] == HANDLER
    module, attr = HANDLER.rsplit(".", 1)
    assert module == lambda_handler.__name__
    assert callable(getattr(lambda_handler, attr))
    # tools/build_lambda.py builds for the python3.12 runtime on x86_64 (numpy needs glibc 2.28).
    assert fn["runtime"] == "python3.12"
    assert fn["architectures"] == ["x86_64"]
    assert fn["filename"] == "${var.lambda_zip_path}"
    assert fn["source_code_hash"] == "${filebase64sha256(var.lambda_zip_path)}"
    assert fn["reserved_concurrent_executions"] == 1
    example_zip = labelled(COMPLETE, "variable")["lambda_zip_path"]["default"]
    assert example_zip.endswith("build/lambda/scheduled_scaling.zip")


def _setting(path: list[str]) -> None:
    model: type[BaseModel] = Settings
    for i, part in enumerate(path):
        fields = model.model_fields
        assert part in fields, f"{'.'.join(path)}: no field {part!r} in {model.__name__}"
        if i < len(path) - 1:
            annotation = fields[part].annotation
            assert isinstance(annotation, type), f"{'.'.join(path[: i + 1])} is no section"
            assert issubclass(annotation, BaseModel), f"{'.'.join(path[: i + 1])} is no section"
            model = annotation


def _env_names() -> set[str]:
    names: set[str] = set()
    for directory in root_dirs():
        for path in tf_files(directory):
            names |= {n for s in strings(load(path)) for n in ENV_NAME.findall(s)}
    return names


def test_every_controlplane_env_var_in_terraform_is_a_setting() -> None:
    names = _env_names()
    assert f"{ENV_PREFIX}SCHEDULE__PROFILES" in names
    for name in sorted(names):
        _setting(name.removeprefix(ENV_PREFIX).lower().split("__"))


def test_schedule_is_a_settings_section() -> None:
    # The Lambda's profiles and run_pass live in Settings.schedule.
    _setting(["schedule", "profiles"])
    _setting(["schedule", "run_pass"])


def _profile_vars(profiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Profiles as the variable's type makes them: every optional attribute present."""
    keys = ("timezone", "days", "start", "end", "cron", "duration_s")
    return [{k: None for k in keys} | {"timezone": "UTC"} | p for p in profiles]


EXAMPLE_PROFILES = labelled(COMPLETE, "module")["scheduled_scaling"]["profiles"]


def test_example_profiles_are_valid_profiles() -> None:
    schedule = ScheduleConfig(profiles=EXAMPLE_PROFILES)
    assert [p.name for p in schedule.profiles] == ["business-hours", "nightly-etl"]


@needs_terraform
@pytest.mark.parametrize("demand_url", [None, "http://scheduler.internal:8000/pending"])
def test_lambda_environment_loads_as_settings(
    demand_url: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    variables: dict[str, Any] = {
        "cluster": "prod-mesos",
        "state_table_name": "controlplane-state",
        "termination_hook_name": "controlplane-drain",
        "mesos_masters": ["10.0.0.10:5050", "10.0.1.10:5050"],
        "profiles": _profile_vars(EXAMPLE_PROFILES),
        "run_pass": True,
        "mesos_principal": "controlplane",
        "mesos_secret": "s3cret",
    }
    if demand_url is not None:
        variables["demand_url"] = demand_url
    env = console(
        [SCHEDULED / "environment.tf"],
        variables,
        "local.environment",
        tmp_path,
        {"region": "eu-central-1"},
    )
    assert set(env) <= _env_names()
    for key, value in env.items():
        assert key.startswith(ENV_PREFIX)
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.cluster == "prod-mesos"
    assert settings.aws.region == "eu-central-1"
    assert settings.mesos.masters == ["10.0.0.10:5050", "10.0.1.10:5050"]
    assert settings.mesos.credentials() == ("controlplane", "s3cret")
    assert settings.demand.source == ("framework" if demand_url is None else "http")
    assert settings.demand.url == demand_url
    assert [p.name for p in settings.schedule.profiles] == ["business-hours", "nightly-etl"]
    assert settings.schedule.profiles[0].days == ("mon", "tue", "wed", "thu", "fri")
    assert settings.schedule.profiles[1].cron == "30 1 * * *"
    assert settings.schedule.run_pass is True


@needs_terraform
def test_schedule_expressions_follow_each_window_in_its_timezone(tmp_path: Path) -> None:
    profiles = [
        *EXAMPLE_PROFILES,
        {
            "name": "night",
            "pool": "batch",
            "min_instances": 2,
            "timezone": "Asia/Tokyo",
            "days": ["fri", "sun"],
            "start": "22:30",
            "end": "06:05",
        },
        {"name": "always", "pool": "batch", "min_instances": 1, "start": "00:00", "end": "00:00"},
        {
            "name": "weekdays",
            "pool": "batch",
            "min_instances": 1,
            "cron": "*/15 9-17 * * 1-5,0",
            "duration_s": 600,
        },
        {
            "name": "both",
            "pool": "batch",
            "min_instances": 1,
            "cron": "0 3 1 * mon",
            "duration_s": 600,
        },
    ]
    ScheduleConfig(profiles=profiles)  # all valid profiles
    edges = console(
        [SCHEDULED / "schedules.tf"], {"profiles": _profile_vars(profiles)}, "local.edges", tmp_path
    )
    got = {k: (e["expression"], e["timezone"], e["profile"], e["edge"]) for k, e in edges.items()}
    assert got == {
        "business-hours-start": (
            "cron(0 8 ? * MON,TUE,WED,THU,FRI *)",
            "Europe/Berlin",
            "business-hours",
            "start",
        ),
        "business-hours-end": (
            "cron(0 20 ? * MON,TUE,WED,THU,FRI *)",
            "Europe/Berlin",
            "business-hours",
            "end",
        ),
        "nightly-etl-start": ("cron(30 1 * * ? *)", "America/New_York", "nightly-etl", "start"),
        "night-start": ("cron(30 22 ? * FRI,SUN *)", "Asia/Tokyo", "night", "start"),
        # The window crosses midnight: it ends the next day.
        "night-end": ("cron(5 6 ? * SAT,MON *)", "Asia/Tokyo", "night", "end"),
        "always-start": ("cron(0 0 ? * MON,TUE,WED,THU,FRI,SAT,SUN *)", "UTC", "always", "start"),
        "always-end": ("cron(0 0 ? * TUE,WED,THU,FRI,SAT,SUN,MON *)", "UTC", "always", "end"),
        "weekdays-start": ("cron(*/15 9-17 ? * MON-FRI,SUN *)", "UTC", "weekdays", "start"),
        # "both": crontab ORs day-of-month and day-of-week; only the safety schedule covers it.
    }


def test_scheduler_targets_send_events_the_handler_accepts() -> None:
    schedules = resources(SCHEDULED, "aws_scheduler_schedule")
    assert set(schedules) == {"edge", "safety"}
    assert schedules["safety"]["schedule_expression"] == "${var.safety_schedule_expression}"
    default = labelled(SCHEDULED, "variable")["safety_schedule_expression"]["default"]
    assert default == "rate(5 minutes)"
    for name, body in schedules.items():
        target = single(body, "target")
        assert "retry_policy" in target and "dead_letter_config" in target, name
        input_ = target["input"]
        assert '"controlplane.schedule"' in input_, name
    # What Scheduler delivers once it fills in the context attribute.
    delivered: list[dict[str, Any]] = [
        {"profile": "business-hours", "edge": "start"},
        {"profile": "business-hours", "edge": "end"},
        {"edge": "check"},
    ]
    for fields in delivered:
        event = {"source": "controlplane.schedule", "time": "2024-05-06T06:00:00Z", **fields}
        trigger = parse_event(event)
        assert trigger.source == "controlplane.schedule"
        assert trigger.scheduled is not None


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


def test_iam_acts_only_on_groups_tagged_with_the_cluster() -> None:
    for directory, doc in ((CONTROL_PLANE, "daemon"), (SCHEDULED, "lambda")):
        documents = {}
        for block in [b for p in tf_files(directory) for b in load(p).get("data", [])]:
            documents.update(block.get("aws_iam_policy_document", {}))
        statements = {s["sid"]: s for s in documents[doc]["statement"]}
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
        "state_table_name": "cp-state",
        "termination_hook_name": "drain-hook",
        "demand_source": "framework",
        "demand_port": 8080,
        "ops_port": 9102,
    }
    toml = console(
        [CONTROL_PLANE / "config.tf"],
        variables,
        "local.config_toml",
        tmp_path,
        {"region": "eu-central-1"},
    )
    path = tmp_path / "controlplane.toml"
    path.write_text(toml, encoding="utf-8")
    settings = load_settings(path)
    assert settings.cluster == "prod-mesos"
    assert settings.mesos.masters == ["http://10.0.0.10:5050", "10.0.1.10:5050"]
    assert settings.mesos.credentials() is None
    assert (settings.aws.region, settings.aws.state_table) == ("eu-central-1", "cp-state")
    assert settings.aws.termination_hook == "drain-hook"
    assert (settings.ops.host, settings.ops.port) == ("0.0.0.0", 9102)
    assert (settings.demand.listen_host, settings.demand.listen_port) == ("0.0.0.0", 8080)
