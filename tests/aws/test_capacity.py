"""Capacity failure: a zone that does not deliver is backed off and its desired returns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from controlplane.aws.actions import apply_scale_ups, apply_takebacks
from controlplane.aws.capacity import (
    CapacityLedger,
    PendingRaise,
    ZoneBackoff,
    activity_failure,
    assess_delivery,
    record_raise,
)
from controlplane.aws.pool_rules import AdapterSettings
from controlplane.aws.replies import ObservedGroup, ObservedInstance
from controlplane.model import ScaleUp
from tests.aws.conftest import NOW, World

SETTINGS = AdapterSettings(cluster="c", launch_deadline_s=600, backoff_s=300, max_backoff_s=900)


def _group(desired: int, present: int, min_size: int = 0) -> ObservedGroup:
    instances = tuple(
        ObservedInstance(f"i-{n}", "us-east-1c", "InService", False, True) for n in range(present)
    )
    return ObservedGroup(
        "g", "batch", "us-east-1c", min_size, 10, desired, {}, None, ("m5.xlarge",), instances
    )


def test_a_raise_within_the_deadline_is_left_waiting() -> None:
    ledger = record_raise(CapacityLedger(), "g", 1, 3, NOW)
    later = NOW + timedelta(seconds=599)
    assert assess_delivery(ledger, {"g": _group(3, 1)}, {}, SETTINGS, later) == (ledger, [])


def test_a_delivered_raise_is_settled() -> None:
    ledger = record_raise(CapacityLedger(), "g", 1, 3, NOW)
    settled, takebacks = assess_delivery(ledger, {"g": _group(3, 3)}, {}, SETTINGS, NOW)
    assert settled == CapacityLedger()
    assert takebacks == []


def test_missed_deadline_backs_off_and_takes_back_the_undelivered() -> None:
    ledger = record_raise(CapacityLedger(), "g", 1, 3, NOW)
    late = NOW + timedelta(seconds=600)
    settled, takebacks = assess_delivery(ledger, {"g": _group(3, 1)}, {}, SETTINGS, late)
    assert settled.raises == {}
    assert settled.backoffs["g"].until == late + timedelta(seconds=300)
    assert settled.unavailable_until("g", late) == late + timedelta(seconds=300)
    assert [(t.desired, t.undelivered) for t in takebacks] == [(1, 2)]
    assert "2 of 3 instances not delivered 600s after the raise" in takebacks[0].reason


def test_failed_activity_fails_the_raise_before_the_deadline_and_backoff_doubles() -> None:
    ledger = CapacityLedger(
        raises={"g": PendingRaise(raised_at=NOW, from_desired=0, to_desired=2)},
        backoffs={"g": ZoneBackoff(until=NOW, failures=2, reason="earlier")},
    )
    failure = {"g": "scaling activity Failed: InsufficientInstanceCapacity"}
    settled, takebacks = assess_delivery(
        ledger, {"g": _group(2, 0, min_size=1)}, failure, SETTINGS, NOW
    )
    # Third failure: 300 * 2**2 = 1200, capped at 900; never below min 1.
    assert settled.backoffs["g"].until == NOW + timedelta(seconds=900)
    assert settled.backoffs["g"].failures == 3
    assert [(t.desired, t.undelivered) for t in takebacks] == [(1, 1)]


def test_ledger_round_trips_through_json() -> None:
    ledger = record_raise(CapacityLedger(), "g", 1, 3, NOW)
    ledger, _ = assess_delivery(ledger, {"g": _group(3, 0)}, {"g": "no"}, SETTINGS, NOW)
    assert CapacityLedger.model_validate_json(ledger.model_dump_json()) == ledger


def test_activity_failure_reads_failed_launches_since_the_raise() -> None:
    old = {"StartTime": NOW - timedelta(hours=1), "StatusCode": "Failed", "StatusMessage": "old"}
    capacity = {
        "StartTime": NOW + timedelta(seconds=5),
        "StatusCode": "Failed",
        "Description": "Launching a new EC2 instance. Status Reason: ...",
        "StatusMessage": (
            "We currently do not have sufficient capacity (InsufficientInstanceCapacity)"
        ),
    }
    assert activity_failure([old], NOW) is None
    assert activity_failure([old, capacity], NOW) == (
        "scaling activity Failed: We currently do not have sufficient capacity "
        "(InsufficientInstanceCapacity)"
    )


def test_zone_that_never_delivers_is_backed_off_and_desired_returns(world: World) -> None:
    """moto launches instantly, so batch-c's replies are made to show no instances."""
    world.two_pools(desired=1)

    def hide_batch_c(parsed: dict[str, Any], **_kw: Any) -> None:
        for group in parsed.get("AutoScalingGroups", []):
            if group["AutoScalingGroupName"] == "batch-c":
                group["Instances"] = []

    world.autoscaling.meta.events.register(
        "after-call.auto-scaling.DescribeAutoScalingGroups", hide_batch_c
    )
    plan = [ScaleUp(pool="batch", asg="batch-c", zone="us-east-1c", count=2, reason="t")]
    _, ledger = apply_scale_ups(
        world.caller, world.autoscaling, plan, world.observe(), CapacityLedger(), NOW
    )
    assert world.desired("batch-c") == 3

    later = NOW + timedelta(seconds=SETTINGS.launch_deadline_s + 1)
    observation = world.observer.observe(ledger, later)
    failures = world.observer.scaling_failures(ledger)  # moto keeps no activities
    assert failures == {}
    ledger, takebacks = assess_delivery(ledger, observation.groups, failures, world.settings, later)
    results = apply_takebacks(world.caller, world.autoscaling, takebacks, observation)
    assert [r.outcome for r in results] == ["done"]
    assert world.desired("batch-c") == 0
    assert world.desired("batch-a") == 1

    # The planner now sees the zone as unavailable, and a stray scale-up is refused.
    observation = world.observer.observe(ledger, later)
    batch = observation.pools[0]
    until = {g.asg: g.unavailable_until for g in batch.groups}["batch-c"]
    assert until == later + timedelta(seconds=world.settings.backoff_s)
    results, _ = apply_scale_ups(world.caller, world.autoscaling, plan, observation, ledger, later)
    assert results[0].outcome == "skipped"
    assert "backed off until" in results[0].detail


def test_scaling_failures_asks_only_raised_groups(world: World) -> None:
    world.two_pools(desired=1)
    failed = {
        "ActivityId": "a1",
        "AutoScalingGroupName": "web-a",
        "Cause": "c",
        "StartTime": datetime(2030, 1, 1, tzinfo=UTC),
        "StatusCode": "Failed",
        "StatusMessage": "InsufficientInstanceCapacity",
        "Description": "Launching a new EC2 instance",
    }

    def add_activity(parsed: dict[str, Any], **_kw: Any) -> None:
        parsed["Activities"] = [failed]

    world.autoscaling.meta.events.register(
        "after-call.auto-scaling.DescribeScalingActivities", add_activity
    )
    assert world.observer.scaling_failures(CapacityLedger()) == {}
    assert world.metrics.count("DescribeScalingActivities") == 0
    ledger = record_raise(CapacityLedger(), "web-a", 1, 2, NOW)
    assert world.observer.scaling_failures(ledger) == {
        "web-a": "scaling activity Failed: InsufficientInstanceCapacity"
    }
    assert world.metrics.count("DescribeScalingActivities") == 1


def test_backoffs_of_vanished_groups_are_forgotten_after_expiry() -> None:
    ledger = CapacityLedger(
        backoffs={
            "gone": ZoneBackoff(until=NOW, failures=1, reason="r"),
            "gone-later": ZoneBackoff(until=NOW + timedelta(seconds=5), failures=1, reason="r"),
            "g": ZoneBackoff(until=NOW, failures=1, reason="r"),
        }
    )
    settled, _ = assess_delivery(ledger, {"g": _group(1, 1)}, {}, SETTINGS, NOW)
    assert sorted(settled.backoffs) == ["g", "gone-later"]


def test_a_raise_nobody_recorded_is_adopted_and_its_deadline_runs() -> None:
    # Desired above what is present, no raise in the ledger (the pass that raised failed
    # before storing it, or another tool raised): adopted now, taken back after the deadline.
    settled, takebacks = assess_delivery(CapacityLedger(), {"g": _group(3, 1)}, {}, SETTINGS, NOW)
    assert settled.raises["g"] == PendingRaise(raised_at=NOW, from_desired=1, to_desired=3)
    assert takebacks == []
    late = NOW + timedelta(seconds=600)
    settled, takebacks = assess_delivery(settled, {"g": _group(3, 1)}, {}, SETTINGS, late)
    assert [(t.desired, t.undelivered) for t in takebacks] == [(1, 2)]
