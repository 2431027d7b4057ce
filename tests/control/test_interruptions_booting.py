"""A Spot warning for an instance still booting: nothing to cordon yet, but AWS takes it in
two minutes whatever we do. The warning is remembered in the state table and the agent is
cordoned (never given work) in the pass that sees it register, also after a restart; the
memory goes once the agent is cordoned, or with the instance. Moto (SQS, Auto Scaling, EC2,
DynamoDB) and the emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from controlplane.aws.interruption_queue import Message
from controlplane.aws.replies import ObservedGroup, ObservedInstance
from controlplane.control.interruptions import review_interruptions
from controlplane.sim.clock import VirtualClock
from controlplane.sim.world import SimWorld
from tests.control.conftest import ListDemand, Loop, tasks
from tests.control.test_interruptions import _warning, queue_world


def _loop(world: SimWorld, clock: VirtualClock) -> tuple[Loop, Any, str]:
    sqs, url, aws = queue_world(world)
    return Loop(world, clock, ListDemand(tasks(2, cpus=3.0)), changes={"aws": aws}), sqs, url


def _booting(world: SimWorld) -> tuple[str, str]:
    """(instance id, group) of an instance launched and not registered as an agent."""
    with world.core.lock:
        registered = {str(a.attributes.get("instance_id")) for a in world.core.agents.values()}
    groups = world.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    for group in sorted(groups, key=lambda g: g["AutoScalingGroupName"]):
        for inst in group["Instances"]:
            if inst["InstanceId"] not in registered:
                return inst["InstanceId"], group["AutoScalingGroupName"]
    raise AssertionError("no instance is booting")


def _agent_on(world: SimWorld, instance: str) -> tuple[str, bool] | None:
    with world.core.lock:
        for agent in world.core.agents.values():
            if agent.attributes.get("instance_id") == instance:
                return agent.id, agent.active
    return None


def test_a_warned_booting_instance_is_cordoned_the_moment_its_agent_registers(
    world: SimWorld, clock: VirtualClock
) -> None:
    loop, sqs, url = _loop(world, clock)
    assert loop.step().outcome == "ok"  # two instances launch for the waiting work
    instance, asg = _booting(world)
    sqs.send_message(QueueUrl=url, MessageBody=_warning(instance))

    warned = loop.step(2)
    notes = [a.detail for a in warned.actions if a.kind == "interruption"]
    assert any("no agent yet; cordoned when it registers" in n for n in notes), notes
    assert _agent_on(world, instance) is None  # still booting
    assert instance in warned.reclaimed  # the framework is told to use none of its offers
    state = loop.parts.store.load()
    assert instance in state.instances.warned
    assert state.ledger.unavailable_until(asg, loop.now()) is not None  # zone backed off
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None

    loop.restart()  # a new leader: only the state table remembers the warning
    loop.step(25)  # the instance registers; this pass cordons it before any work lands
    seen = _agent_on(world, instance)
    assert seen is not None
    agent, active = seen
    assert active is False
    state = loop.parts.store.load()
    intent = state.intents[agent]
    assert intent.cordon and intent.interrupted and intent.reclaim
    # From here the intent evicts it every pass; the memory has done its work.
    assert instance not in state.instances.warned


NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _group(*instances: str) -> ObservedGroup:
    return ObservedGroup(
        name="batch-a",
        pool="batch",
        zone="us-east-1a",
        min=0,
        max=10,
        desired=len(instances),
        tags={},
        template=None,
        launch_types=(),
        instances=tuple(
            ObservedInstance(i, "us-east-1a", "InService", False, True) for i in instances
        ),
    )


def test_only_spot_warnings_for_booting_instances_of_our_groups_are_remembered() -> None:
    groups = {"batch-a": _group("i-0b00712345678abcd")}
    body = json.loads(_warning("i-0b00712345678abcd"))
    rebalance = {**body, "id": "ev-2", "detail-type": "EC2 Instance Rebalance Recommendation"}
    messages = [
        Message("m1", "r1", json.dumps(body)),
        Message("m2", "r2", json.dumps(rebalance)),
        Message("m3", "r3", _warning("i-0123456789abcdef0", "ev-3")),
    ]
    out = review_interruptions(messages, [], groups, {}, NOW)
    assert out.warned == {"i-0b00712345678abcd": NOW}
    assert set(out.back_off) == {"batch-a"}
    assert out.cordons == {} and out.evict == {}
    assert len(out.done) == 3  # all acted on: deleted after the pass stores what it did
    # Remembered while the instance boots in its group; forgotten once it leaves.
    kept = review_interruptions([], [], groups, out.warned, NOW)
    assert kept.warned == {"i-0b00712345678abcd": NOW} and kept.back_off == {}
    assert review_interruptions([], [], {"batch-a": _group()}, out.warned, NOW).warned == {}
