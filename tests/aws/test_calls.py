"""The call door: what is retried, what surfaces, what is counted; no network needed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.aws.calls import AwsCaller, AwsMetrics
from controlplane.aws.errors import AwsCallError

#: Scripted attempt outcomes: "ok" answers, the rest raise what AWS would.
OUTCOMES = ("ok", "throttle", "ec2_throttle", "fault", "invalid")


def _error(kind: str) -> ClientError:
    code, status = {
        "throttle": ("Throttling", 400),
        "ec2_throttle": ("RequestLimitExceeded", 503),
        "fault": ("InternalFailure", 500),
        "invalid": ("ValidationError", 400),
    }[kind]
    reply: Any = {
        "Error": {"Code": code, "Message": f"{code} says no"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(reply, "SetDesiredCapacity")


class ScriptedClient:
    """A stand-in boto3 client whose one method follows a script of outcomes."""

    def __init__(self, script: list[str]) -> None:
        self.meta = SimpleNamespace(service_model=SimpleNamespace(service_name="autoscaling"))
        self.script = list(script)
        self.calls = 0
        self.successes = 0

    def set_desired_capacity(self, **_params: Any) -> dict[str, Any]:
        kind = self.script[self.calls] if self.calls < len(self.script) else "ok"
        self.calls += 1
        if kind != "ok":
            raise _error(kind)
        self.successes += 1
        return {"ok": True}


def caller(max_attempts: int = 4) -> AwsCaller:
    return AwsCaller(metrics=AwsMetrics(), max_attempts=max_attempts, sleep=lambda _s: None)


@settings(max_examples=200, deadline=None)
@given(script=st.lists(st.sampled_from(OUTCOMES), max_size=8), idempotent=st.booleans())
def test_retries_are_bounded_and_a_success_is_never_repeated(
    script: list[str], idempotent: bool
) -> None:
    client = ScriptedClient(script)
    door = caller(max_attempts=4)
    retryable = {"throttle", "ec2_throttle"} | ({"fault"} if idempotent else set())
    try:
        door.write(client, "SetDesiredCapacity", idempotent=idempotent, DesiredCapacity=1)
        succeeded = True
    except AwsCallError:
        succeeded = False
    assert client.successes == (1 if succeeded else 0)  # at most one success, ever
    assert client.calls <= 4
    # Every attempt before the last was one the policy allows to repeat.
    attempts = (script + ["ok"] * 8)[: client.calls]
    assert all(kind in retryable for kind in attempts[:-1])
    if not succeeded:
        assert attempts[-1] not in retryable or client.calls == 4
    assert door.metrics.count("SetDesiredCapacity") == client.calls


def test_a_client_error_surfaces_with_the_api_message_and_is_not_retried() -> None:
    client = ScriptedClient(["invalid"])
    with pytest.raises(AwsCallError) as caught:
        caller().write(client, "SetDesiredCapacity", idempotent=True, DesiredCapacity=1)
    assert (
        str(caught.value) == "SetDesiredCapacity failed: ValidationError: ValidationError says no"
    )
    assert client.calls == 1


def test_throttling_past_the_bound_names_the_attempts() -> None:
    client = ScriptedClient(["throttle"] * 10)
    with pytest.raises(AwsCallError, match="after 3 attempts: Throttling"):
        caller(max_attempts=3).read(client, "SetDesiredCapacity")
    assert client.calls == 3


def test_server_fault_not_retried_for_a_non_idempotent_call() -> None:
    client = ScriptedClient(["fault"])
    with pytest.raises(AwsCallError, match="InternalFailure"):
        caller().write(client, "SetDesiredCapacity", idempotent=False)
    assert client.calls == 1
    client = ScriptedClient(["fault"])
    caller().write(client, "SetDesiredCapacity", idempotent=True)
    assert client.calls == 2


def test_calls_are_counted_and_timed_per_operation_and_outcome() -> None:
    door = caller()
    door.read(ScriptedClient(["throttle", "ok"]), "SetDesiredCapacity")
    assert door.metrics.count("SetDesiredCapacity", "throttled") == 1
    assert door.metrics.count("SetDesiredCapacity", "ok") == 1
    timed = door.metrics.registry.get_sample_value(
        "controlplane_aws_call_seconds_count",
        {"service": "autoscaling", "operation": "SetDesiredCapacity"},
    )
    assert timed == 2


def test_dry_run_writes_are_logged_not_made_but_reads_still_happen() -> None:
    door = AwsCaller(dry_run=True, sleep=lambda _s: None)
    client = ScriptedClient([])
    assert door.write(client, "SetDesiredCapacity", idempotent=True) is None
    assert client.calls == 0
    assert door.read(client, "SetDesiredCapacity") == {"ok": True}
    assert door.metrics.counts() == {"SetDesiredCapacity": 2}
    assert door.metrics.count("SetDesiredCapacity", "dry_run") == 1


def test_waits_between_attempts_are_jittered_and_capped() -> None:
    waits: list[float] = []
    door = AwsCaller(max_attempts=8, base_delay_s=0.2, max_delay_s=1.0, sleep=waits.append)
    with pytest.raises(AwsCallError):
        door.read(ScriptedClient(["throttle"] * 10), "SetDesiredCapacity")
    assert len(waits) == 7
    assert all(0 <= w <= 1.0 for w in waits)
    assert len(set(waits)) > 1  # jittered, not a fixed schedule
