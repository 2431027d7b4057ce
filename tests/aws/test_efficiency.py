"""API efficiency: 100 groups and nothing to change cost a handful of reads and no write."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from controlplane.aws.actions import (
    apply_scale_downs,
    apply_scale_ups,
    apply_takebacks,
    protect_busy,
)
from controlplane.aws.capacity import CapacityLedger, assess_delivery
from controlplane.aws.lifecycle import settle_terminations
from tests.aws.conftest import NOW, World

ZONES5 = tuple(f"us-east-1{letter}" for letter in "abcde")
READ_PREFIX = "Describe"


def _sent(world: World) -> Counter[str]:
    """Requests that actually leave the adapter's clients, by operation."""
    sent: Counter[str] = Counter()

    def count(model: Any, **_kw: Any) -> None:
        sent[model.name] += 1

    for client in (world.autoscaling, world.ec2):
        client.meta.events.register("before-call", count)
    return sent


def _one_pass(world: World, busy: set[str], ledger: CapacityLedger, minutes: int) -> None:
    now = NOW + timedelta(minutes=minutes)
    observation = world.observer.observe(ledger, now)
    failures = world.observer.scaling_failures(ledger)
    ledger, takebacks = assess_delivery(ledger, observation.groups, failures, world.settings, now)
    apply_takebacks(world.caller, world.autoscaling, takebacks, observation)
    protect_busy(world.caller, world.autoscaling, observation, busy)
    apply_scale_ups(world.caller, world.autoscaling, [], observation, ledger, now)
    apply_scale_downs(world.caller, world.autoscaling, [], observation, {})
    settle_terminations(world.caller, world.autoscaling, observation, {}, "hook")
    assert len(observation.groups) == 100
    assert len(observation.pools) == 20


def test_a_quiet_pass_over_100_groups(world: World) -> None:
    for pool in range(20):
        itype = "m5.xlarge" if pool % 2 else "c5.large"
        for zone in ZONES5:
            desired = 1 if zone == ZONES5[0] else 0
            world.group(
                f"p{pool:02d}-{zone[-1]}",
                f"p{pool:02d}",
                (zone,),
                instance_type=itype,
                desired=desired,
            )
    busy = {iid for pool in range(20) for iid in world.instance_ids(f"p{pool:02d}-a")}
    for pool in range(20):
        world.check.set_instance_protection(
            AutoScalingGroupName=f"p{pool:02d}-a",
            InstanceIds=world.instance_ids(f"p{pool:02d}-a"),
            ProtectedFromScaleIn=True,
        )
    sent = _sent(world)

    _one_pass(world, busy, CapacityLedger(), minutes=0)  # cold caches
    cold = dict(sent)
    assert cold == {
        "DescribeAutoScalingGroups": 1,
        "DescribeLaunchTemplateVersions": 1,
        "DescribeInstanceTypes": 1,
    }
    assert world.metrics.counts() == cold  # the metrics saw exactly what left

    sent.clear()
    _one_pass(world, busy, CapacityLedger(), minutes=1)  # warm: discovery and types cached
    assert dict(sent) == {"DescribeAutoScalingGroups": 1}
    assert all(op.startswith(READ_PREFIX) for op in world.metrics.counts())


def test_a_reply_that_did_not_change_is_not_parsed_again(world: World) -> None:
    world.two_pools(desired=60, max_size=100)  # 360 instances: a reply of well over 64 KB
    parser = world.autoscaling._endpoint._response_parser_factory.create_parser("query")  # type: ignore[attr-defined]
    first = world.observe()
    before = parser.reused
    again = world.observe()  # the same fleet: the same reply, read but not parsed again
    assert parser.reused == before + 1 and again.groups == first.groups
    world.autoscaling.set_desired_capacity(AutoScalingGroupName="web-a", DesiredCapacity=61)
    later = world.observe()  # one group changed: the reply is parsed again
    assert parser.reused == before + 1
    assert len(later.groups["web-a"].instances) == 61
