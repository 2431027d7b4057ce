"""Termination lifecycle hook: hold busy instances, release drained ones (botocore Stubber).

moto stores lifecycle hooks but never runs them and does not implement
CompleteLifecycleAction, so these calls are checked against botocore's Stubber.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber
from mypy_boto3_autoscaling import AutoScalingClient

from controlplane.aws.calls import AwsCaller, AwsMetrics
from controlplane.aws.lifecycle import settle_terminations, waiting_terminations
from controlplane.aws.observation import AwsObservation
from controlplane.aws.replies import ObservedGroup, ObservedInstance

HOOK = "controlplane-drain"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _observation() -> AwsObservation:
    def inst(iid: str, state: str) -> ObservedInstance:
        return ObservedInstance(iid, "us-east-1a", state, False, True)

    group = ObservedGroup(
        name="batch-a",
        pool="batch",
        zone="us-east-1a",
        min=0,
        max=10,
        desired=3,
        tags={},
        template=None,
        launch_types=("m5.xlarge",),
        instances=(
            inst("i-busy", "Terminating:Wait"),
            inst("i-drained", "Terminating:Wait"),
            inst("i-running", "InService"),
        ),
    )
    return AwsObservation(NOW, (), {"batch-a": group})


@pytest.fixture
def stubbed() -> Iterator[tuple[AutoScalingClient, Stubber]]:
    client = boto3.Session(
        region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    ).client("autoscaling")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _where(iid: str) -> dict[str, str]:
    return {"LifecycleHookName": HOOK, "AutoScalingGroupName": "batch-a", "InstanceId": iid}


def test_busy_held_with_heartbeat_and_drained_released_with_continue(
    stubbed: tuple[AutoScalingClient, Stubber],
) -> None:
    client, stubber = stubbed
    stubber.add_response("record_lifecycle_action_heartbeat", {}, _where("i-busy"))
    stubber.add_response(
        "complete_lifecycle_action",
        {},
        {**_where("i-drained"), "LifecycleActionResult": "CONTINUE"},
    )
    caller = AwsCaller(metrics=AwsMetrics(), sleep=lambda _s: None)
    results = settle_terminations(
        caller, client, _observation(), {"i-busy": False, "i-drained": True}, HOOK
    )
    assert [(r.instance_id, r.outcome) for r in results] == [
        ("i-busy", "done"),
        ("i-drained", "done"),
    ]
    assert "held" in results[0].detail
    assert "released" in results[1].detail


def test_unknown_drain_state_is_held_not_released(
    stubbed: tuple[AutoScalingClient, Stubber],
) -> None:
    client, stubber = stubbed
    stubber.add_response("record_lifecycle_action_heartbeat", {}, _where("i-busy"))
    stubber.add_response("record_lifecycle_action_heartbeat", {}, _where("i-drained"))
    caller = AwsCaller(metrics=AwsMetrics(), sleep=lambda _s: None)
    results = settle_terminations(caller, client, _observation(), {}, HOOK)
    assert [r.outcome for r in results] == ["done", "done"]
    assert caller.metrics.count("CompleteLifecycleAction") == 0


def test_release_already_done_is_skipped_and_throttled_release_retried(
    stubbed: tuple[AutoScalingClient, Stubber],
) -> None:
    client, stubber = stubbed
    stubber.add_response("record_lifecycle_action_heartbeat", {}, _where("i-busy"))
    stubber.add_client_error(
        "complete_lifecycle_action", "Throttling", "Rate exceeded", http_status_code=400
    )
    stubber.add_client_error(
        "complete_lifecycle_action",
        "ValidationError",
        "No active Lifecycle Action found with instance ID i-drained",
    )
    caller = AwsCaller(metrics=AwsMetrics(), sleep=lambda _s: None)
    results = settle_terminations(caller, client, _observation(), {"i-drained": True}, HOOK)
    assert results[1].outcome == "skipped"
    assert results[1].detail == "already released"
    assert caller.metrics.count("CompleteLifecycleAction", "throttled") == 1


def test_dry_run_holds_and_releases_nothing(stubbed: tuple[AutoScalingClient, Stubber]) -> None:
    client, _ = stubbed  # no responses queued: any real call would fail the Stubber
    caller = AwsCaller(metrics=AwsMetrics(), dry_run=True)
    results = settle_terminations(caller, client, _observation(), {"i-drained": True}, HOOK)
    assert [r.outcome for r in results] == ["dry_run", "dry_run"]


def test_waiting_terminations_lists_what_needs_a_drain() -> None:
    waiting = waiting_terminations(_observation())
    assert [(asg, i.instance_id) for asg, i in waiting] == [
        ("batch-a", "i-busy"),
        ("batch-a", "i-drained"),
    ]
