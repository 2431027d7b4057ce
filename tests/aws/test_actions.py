"""Scale up, targeted scale-down, protection and bounds against moto over HTTP."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from controlplane.aws.actions import apply_scale_downs, apply_scale_ups, protect_busy
from controlplane.aws.capacity import CapacityLedger
from controlplane.aws.errors import UnsafeActionError
from controlplane.aws.observation import AwsObservation
from controlplane.model import BalancedConstraint, ScaleDown, ScaleUp, Snapshot, Task
from controlplane.planning import plan
from tests.aws.conftest import NOW, ZONES, World, build_world

WRITES = ("SetDesiredCapacity", "TerminateInstanceInAutoScalingGroup", "SetInstanceProtection")


def up(asg: str, count: int, pool: str = "batch") -> ScaleUp:
    return ScaleUp(pool=pool, asg=asg, zone=f"us-east-1{asg[-1]}", count=count, reason="test")


def down(asg: str, instance_id: str, pool: str = "batch") -> ScaleDown:
    zone = f"us-east-1{asg[-1]}"
    return ScaleDown(
        pool=pool,
        agent=f"A-{instance_id}",
        instance_id=instance_id,
        asg=asg,
        zone=zone,
        reason="idle",
    )


def test_scale_up_balanced_across_zones(world: World) -> None:
    world.two_pools(desired=1)
    plan = [up(f"batch-{z[-1]}", 2) for z in ZONES]
    results, ledger = apply_scale_ups(
        world.caller, world.autoscaling, plan, world.observe(), CapacityLedger(), NOW
    )
    assert [r.outcome for r in results] == ["done"] * 3
    assert [world.desired(f"batch-{z[-1]}") for z in ZONES] == [3, 3, 3]
    assert [world.desired(f"web-{z[-1]}") for z in ZONES] == [1, 1, 1]
    assert sorted(ledger.raises) == ["batch-a", "batch-b", "batch-c"]
    assert ledger.raises["batch-a"].to_desired == 3
    assert world.metrics.count("SetDesiredCapacity", "ok") == 3


def test_scale_up_never_exceeds_max(world: World) -> None:
    world.two_pools(desired=3, max_size=4)
    observation = world.observe()
    results, _ = apply_scale_ups(
        world.caller, world.autoscaling, [up("batch-a", 5)], observation, CapacityLedger(), NOW
    )
    assert world.desired("batch-a") == 4
    assert "clamped to max 4" in results[0].detail
    # Already at max: nothing is sent.
    results, _ = apply_scale_ups(
        world.caller, world.autoscaling, [up("batch-a", 1)], world.observe(), CapacityLedger(), NOW
    )
    assert results[0].outcome == "skipped"
    assert world.metrics.count("SetDesiredCapacity") == 1


def test_repeating_a_scale_up_on_the_same_observation_does_not_add_twice(world: World) -> None:
    world.two_pools(desired=1)
    observation = world.observe()
    for _ in range(2):
        apply_scale_ups(
            world.caller,
            world.autoscaling,
            [up("web-b", 2, "web")],
            observation,
            CapacityLedger(),
            NOW,
        )
    assert world.desired("web-b") == 3


def test_targeted_scale_down_terminates_exactly_that_instance(world: World) -> None:
    world.two_pools(desired=3)
    victim, *others = world.instance_ids("batch-b")
    results = apply_scale_downs(
        world.caller,
        world.autoscaling,
        [down("batch-b", victim)],
        world.observe(),
        {victim: True},
    )
    assert results[0].outcome == "done"
    assert world.instance_ids("batch-b") == others
    assert world.desired("batch-b") == 2


def test_scale_down_waits_for_drained_and_respects_min(world: World) -> None:
    world.two_pools(desired=2, min_size=1)
    first, second = world.instance_ids("batch-a")
    observation = world.observe()
    results = apply_scale_downs(
        world.caller,
        world.autoscaling,
        [down("batch-a", first), down("batch-a", second)],
        observation,
        {first: False, second: True},
    )
    assert results[0].detail == "not drained yet"
    assert results[1].outcome == "done"
    # Now at min 1: the drained survivor is still not terminated.
    results = apply_scale_downs(
        world.caller, world.autoscaling, [down("batch-a", first)], world.observe(), {first: True}
    )
    assert results[0].outcome == "skipped"
    assert "group at min 1" in results[0].detail
    assert world.instance_ids("batch-a") == [first]


def test_scale_down_skips_instances_already_terminating(world: World) -> None:
    world.two_pools(desired=1)
    (iid,) = world.instance_ids("web-c")
    observation = world.observe()
    group = observation.groups["web-c"]
    leaving = replace(
        group, instances=(replace(group.instances[0], lifecycle_state="Terminating:Wait"),)
    )
    stale = AwsObservation(NOW, observation.pools, {**observation.groups, "web-c": leaving})
    results = apply_scale_downs(
        world.caller, world.autoscaling, [down("web-c", iid, "web")], stale, {iid: True}
    )
    assert results[0].detail == "already Terminating:Wait"
    assert world.metrics.counts("ok").keys().isdisjoint(WRITES)


def test_the_same_instance_named_twice_is_terminated_once(world: World) -> None:
    world.two_pools(desired=2)
    iid = world.instance_ids("batch-c")[0]
    results = apply_scale_downs(
        world.caller, world.autoscaling, [down("batch-c", iid)] * 2, world.observe(), {iid: True}
    )
    assert [r.outcome for r in results] == ["done", "skipped"]
    assert world.metrics.count("TerminateInstanceInAutoScalingGroup") == 1
    assert world.desired("batch-c") == 1


def test_unknown_instance_or_group_gives_a_clear_error_and_no_call(world: World) -> None:
    world.two_pools(desired=1)
    observation = world.observe()
    results = apply_scale_downs(
        world.caller,
        world.autoscaling,
        [down("batch-a", "i-0nosuch")],
        observation,
        {"i-0nosuch": True},
    )
    assert results[0].outcome == "failed"
    assert results[0].detail == (
        "instance i-0nosuch (agent A-i-0nosuch) is not an instance of group batch-a"
    )
    # A plan naming an unknown group is refused whole, before any write.
    plan = [up("batch-a", 1), up("batch-z", 1)]
    with pytest.raises(UnsafeActionError, match="'batch-z', which is not a discovered group"):
        apply_scale_ups(world.caller, world.autoscaling, plan, observation, CapacityLedger(), NOW)
    assert world.desired("batch-a") == 1
    assert world.metrics.counts("ok").keys().isdisjoint(WRITES)


def test_busy_instances_protected_and_unprotected_just_before_termination(world: World) -> None:
    world.two_pools(desired=2)
    busy, idle = world.instance_ids("web-a")
    results = protect_busy(world.caller, world.autoscaling, world.observe(), {busy, idle})
    assert [r.outcome for r in results] == ["done"]
    observation = world.observe()
    assert all(i.protected for i in observation.groups["web-a"].instances)
    # Nothing changed: no further call.
    assert protect_busy(world.caller, world.autoscaling, observation, {busy}) == []
    # `idle` has since gone idle, drained, and is chosen: unprotected, then terminated.
    results = apply_scale_downs(
        world.caller, world.autoscaling, [down("web-a", idle, "web")], observation, {idle: True}
    )
    assert results[0].outcome == "done"
    assert world.metrics.count("SetInstanceProtection", "ok") == 2
    assert world.instance_ids("web-a") == [busy]
    # A desired-capacity cut by someone else cannot take the protected busy instance.
    world.autoscaling.set_desired_capacity(AutoScalingGroupName="web-a", DesiredCapacity=0)
    assert world.instance_ids("web-a") == [busy]


def test_protection_goes_out_in_batches_of_50_several_at_a_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.two_pools(desired=55)  # 6 groups of 55: two calls each (50 + 5)
    observation = world.observe()
    busy = {i.instance_id for g in observation.groups.values() for i in g.instances}
    in_flight, most = [0], [0]
    lock = threading.Lock()
    write = world.caller.write

    def counted(*args: Any, **kwargs: Any) -> Any:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        try:
            time.sleep(0.05)
            return write(*args, **kwargs)
        finally:
            with lock:
                in_flight[0] -= 1

    monkeypatch.setattr(world.caller, "write", counted)
    results = protect_busy(world.caller, world.autoscaling, observation, busy)
    assert [r.outcome for r in results] == ["done"] * 12
    assert [r.asg for r in results] == [g for g in sorted(observation.groups) for _ in (0, 1)]
    assert [r.detail.split(":")[0] for r in results[:2]] == [
        "protected 50 busy",
        "protected 5 busy",
    ]
    assert most[0] > 1  # concurrent
    assert all(i.protected for g in world.observe().groups.values() for i in g.instances)


def test_dry_run_logs_writes_and_makes_none(
    moto_url: str, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.two_pools(desired=2)
    dry = build_world(moto_url, dry_run=True)
    observation = dry.observe()
    iid = world.instance_ids("batch-a")[0]
    with caplog.at_level(logging.INFO, logger="controlplane.aws.calls"):
        ups, ledger = apply_scale_ups(
            dry.caller, dry.autoscaling, [up("batch-b", 1)], observation, CapacityLedger(), NOW
        )
        downs = apply_scale_downs(
            dry.caller, dry.autoscaling, [down("batch-a", iid)], observation, {iid: True}
        )
    assert [ups[0].outcome, downs[0].outcome] == ["dry_run", "dry_run"]
    assert ledger.raises == {}
    assert (world.desired("batch-b"), world.desired("batch-a")) == (2, 2)
    assert "would call SetDesiredCapacity" in caplog.text
    assert "would call TerminateInstanceInAutoScalingGroup" in caplog.text
    assert dry.metrics.counts("ok").keys().isdisjoint(WRITES)


def test_planner_scale_up_from_an_observed_snapshot_lands_balanced(world: World) -> None:
    """End to end on the AWS side: observed pools -> snapshot -> planner -> AWS calls."""
    world.two_pools(desired=0)
    observation = world.observe()
    pending = [
        Task(
            id=f"t{n}",
            job="spread",
            resources={"cpus": 3.0},
            pool="batch",
            constraints=[BalancedConstraint(kind="balanced", attribute="zone")],
        )
        for n in range(6)
    ]
    snapshot = Snapshot(version=1, now=NOW, pools=list(observation.pools), pending=pending)
    decided = plan(snapshot)
    # Six tasks of 3 cpus need six 4-cpu instances, plus batch's min_idle of 1.
    assert sum(s.count for s in decided.scale_up) == 7
    results, _ = apply_scale_ups(
        world.caller, world.autoscaling, decided.scale_up, observation, CapacityLedger(), NOW
    )
    assert {r.outcome for r in results} == {"done"}
    sizes = [world.desired(f"batch-{z[-1]}") for z in ZONES]
    assert sum(sizes) == 7
    assert max(sizes) - min(sizes) <= 1
