"""Faults injected before requests leave: throttling on chosen operations, server faults."""

from __future__ import annotations

import pytest

from controlplane.aws.actions import apply_scale_downs, apply_scale_ups, protect_busy
from controlplane.aws.capacity import CapacityLedger
from controlplane.model import ScaleDown, ScaleUp
from tests.aws.conftest import (
    NOW,
    ZONES,
    World,
    build_world,
    inject,
    server_error_reply,
    throttle_reply,
)

THROTTLED = (
    "DescribeAutoScalingGroups",
    "SetDesiredCapacity",
    "SetInstanceProtection",
    "TerminateInstanceInAutoScalingGroup",
)


def _plan(world: World) -> tuple[list[ScaleUp], list[ScaleDown], dict[str, bool]]:
    ups = [ScaleUp(pool="web", asg=f"web-{z[-1]}", zone=z, count=1, reason="t") for z in ZONES]
    downs: list[ScaleDown] = []
    for zone in ZONES:
        asg = f"batch-{zone[-1]}"
        for iid in world.instance_ids(asg)[:2]:
            downs.append(
                ScaleDown(pool="batch", agent=iid, instance_id=iid, asg=asg, zone=zone, reason="t")
            )
    return ups, downs, {d.instance_id: True for d in downs if d.instance_id}


@pytest.mark.parametrize(("attempts", "seed"), [(6, 1), (2, 5)])
def test_throttled_actions_complete_or_fail_cleanly_never_twice(
    moto_url: str, world: World, attempts: int, seed: int
) -> None:
    world.two_pools(desired=3)
    ups, downs, drained = _plan(world)
    busy = world.instance_ids("web-a")
    world = build_world(moto_url, max_attempts=attempts)
    draws = [
        inject(world.autoscaling, op, 0.3, seed + i, throttle_reply)
        for i, op in enumerate(THROTTLED)
    ]
    try:
        observation = world.observe()
    except Exception as error:  # a clean failure: named, and nothing was written
        assert "DescribeAutoScalingGroups failed after" in str(error)
        assert world.metrics.count("SetDesiredCapacity") == 0
        return
    protect_busy(world.caller, world.autoscaling, observation, set(busy))
    up_results, _ = apply_scale_ups(
        world.caller, world.autoscaling, ups, observation, CapacityLedger(), NOW
    )
    down_results = apply_scale_downs(world.caller, world.autoscaling, downs, observation, drained)
    assert sum(sum(d) for d in draws) > 0, "the injection must have throttled something"

    for result in up_results:
        grew = world.desired(result.asg) - 3
        assert grew == (1 if result.outcome == "done" else 0), result
        if result.outcome == "failed":
            assert "Throttling" in result.detail
    gone: dict[str, int] = {}
    for result in down_results:
        assert result.instance_id is not None
        alive = result.instance_id in world.instance_ids(result.asg)
        assert alive == (result.outcome != "done"), result
        gone[result.asg] = gone.get(result.asg, 0) + (result.outcome == "done")
    for asg, count in gone.items():
        assert world.desired(asg) == 3 - count  # each termination decremented exactly once
    ok_terminations = world.metrics.count("TerminateInstanceInAutoScalingGroup", "ok")
    assert ok_terminations == sum(gone.values())
    outcomes = {r.outcome for r in up_results + down_results}
    # Six attempts outlast 30% throttling; with two, this seed makes some actions fail.
    assert outcomes == ({"done"} if attempts == 6 else {"done", "failed"})


def test_server_fault_on_terminate_is_not_retried(world: World) -> None:
    world.two_pools(desired=2)
    iid = world.instance_ids("batch-a")[0]
    inject(world.autoscaling, "TerminateInstanceInAutoScalingGroup", 1.0, 0, server_error_reply)
    action = ScaleDown(
        pool="batch", agent="A", instance_id=iid, asg="batch-a", zone="us-east-1a", reason="t"
    )
    (result,) = apply_scale_downs(
        world.caller, world.autoscaling, [action], world.observe(), {iid: True}
    )
    assert result.outcome == "failed"
    assert result.detail == "TerminateInstanceInAutoScalingGroup failed: InternalFailure: boom"
    assert world.metrics.count("TerminateInstanceInAutoScalingGroup") == 1
