"""The scheduled-scaling module agrees with the Lambda: handler, runtime, settings, schedules.

Where an expression matters (the environment, the schedule expressions) it is evaluated with
`terraform console` when a terraform binary is on PATH.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from controlplane.config import ENV_PREFIX, ScheduleConfig, Settings, load_settings
from lambdas.scheduled_scaling import handler as lambda_handler
from lambdas.scheduled_scaling.events import parse_event
from tests.deploy.hcl import (
    COMPLETE,
    SCHEDULED,
    console,
    labelled,
    load,
    needs_terraform,
    resources,
    root_dirs,
    single,
    strings,
    tf_files,
)

HANDLER = "lambdas.scheduled_scaling.handler.handler"
ENV_NAME = re.compile(rf"\b{ENV_PREFIX}[A-Z0-9_]+\b")


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


MESOS_ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:mesos"
TOKEN_ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:tokens"


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
        "mesos_secret_arn": MESOS_ARN,
        "demand_url_token_secret_arn": None,
    }
    if demand_url is not None:
        variables["demand_url"] = demand_url
        variables["demand_url_token_secret_arn"] = TOKEN_ARN
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
    assert settings.mesos.credentials() is None  # no secret travels in the environment
    assert not any("s3cret" in v for v in env.values())
    # Mesos is read only where a pass runs: a floors-only function needs no secret.
    if demand_url is None:
        assert settings.mesos.principal is None and settings.mesos.secret_arn is None
    else:
        assert settings.mesos.secret_arn == MESOS_ARN
        assert settings.demand.url_token_secret == TOKEN_ARN
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
