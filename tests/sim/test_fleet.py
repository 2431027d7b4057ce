"""FleetBridge over real HTTP: moto groups scale, agents follow in the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from controlplane.aws.calls import AwsCaller
from controlplane.mesos.observe import observe_agents
from controlplane.mesos.operator_client import OperatorClient
from controlplane.sim.clock import VirtualClock, utc
from controlplane.sim.fleet import FleetBridge, agent_id_for
from controlplane.sim.world import SimWorld
from tests.aws.conftest import server_error_reply, throttle_reply
from tests.sim.conftest import (
    BOOT_S,
    CLUSTER,
    instance_ids,
    observe_aws,
    run_task,
    set_desired,
    spec,
)


def test_agents_register_after_the_boot_delay_with_the_adapters_capacity(
    world: SimWorld, clock: VirtualClock
) -> None:
    batch = set_desired(world, world.asg_name("batch", "us-east-1a"), 2)
    web = set_desired(world, world.asg_name("web", "us-east-1b"), 1)
    first = world.bridge.sync()
    assert first.waiting == tuple(sorted(batch + web))
    assert not first.registered and not world.core.agents
    clock.advance(BOOT_S - 1)
    assert not world.bridge.sync().registered
    clock.advance(1)
    report = world.bridge.sync()
    assert report.registered == tuple(sorted(batch + web))
    assert report.waiting == () and report.errors == ()

    capacity = {pool.name: pool.capacity for pool in observe_aws(world).pools}
    assert capacity["web"]["mem"] == 4096 - 256  # the group's tag beats the configured 512
    views = OperatorClient(world.mesos_address).agents()
    observed = {a.instance_id: a for a in observe_agents(views, utc(clock.now())).agents}
    assert set(observed) == set(batch + web)
    for iid, agent in observed.items():
        pool = "batch" if iid in batch else "web"
        zone = "us-east-1a" if pool == "batch" else "us-east-1b"
        assert agent.id == agent_id_for(str(iid))
        assert (agent.pool, agent.zone, agent.asg) == (pool, zone, world.asg_name(pool, zone))
        assert agent.total == capacity[pool]
        assert agent.hostname.startswith("ip-10-0-")
    assert observed[batch[0]].attributes == {"lifecycle": "on-demand", "tier": "bulk"}
    assert world.bridge.agents() == {iid: agent_id_for(iid) for iid in sorted(batch + web)}


def test_a_terminated_instance_leaves_after_the_gone_delay(clock: VirtualClock) -> None:
    with SimWorld(spec(gone_delay_s=75.0), clock=clock) as world:
        asg = world.asg_name("batch", "us-east-1c")
        ids = set_desired(world, asg, 2)
        world.bridge.sync()
        clock.advance(BOOT_S)
        world.bridge.sync()
        world.autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=ids[0], ShouldDecrementDesiredCapacity=True
        )
        noticed = world.bridge.sync()
        assert noticed.leaving == (ids[0],) and not noticed.removed
        clock.advance(74)
        assert agent_id_for(ids[0]) in world.core.agents
        assert not world.bridge.sync().removed
        clock.advance(1)
        gone = world.bridge.sync()
        assert gone.removed == (ids[0],) and gone.leaving == ()
        assert set(world.core.agents) == {agent_id_for(ids[1])}
        assert world.invariant_violations() == []


def test_lowering_desired_takes_the_agents_of_removed_instances(
    world: SimWorld, clock: VirtualClock
) -> None:
    asg = world.asg_name("web", "us-east-1a")
    before = set_desired(world, asg, 3)
    world.bridge.sync()
    clock.advance(BOOT_S)
    assert len(world.bridge.sync().registered) == 3
    after = set_desired(world, asg, 1)
    report = world.bridge.sync()
    assert report.removed == tuple(sorted(set(before) - set(after)))
    assert set(world.core.agents) == {agent_id_for(i) for i in after}


def test_an_instance_gone_before_it_booted_never_becomes_an_agent(
    world: SimWorld, clock: VirtualClock
) -> None:
    asg = world.asg_name("batch", "us-east-1b")
    set_desired(world, asg, 1)
    world.bridge.sync()
    set_desired(world, asg, 0)
    clock.advance(BOOT_S)
    report = world.bridge.sync()
    assert report.registered == report.removed == report.waiting == ()
    assert not world.core.agents


def test_terminating_an_instance_whose_agent_runs_a_task_is_a_violation(
    world: SimWorld, clock: VirtualClock
) -> None:
    asg = world.asg_name("batch", "us-east-1a")
    busy, idle = set_desired(world, asg, 2)
    world.bridge.sync()
    clock.advance(BOOT_S)
    world.bridge.sync()
    run_task(world.core, agent_id_for(busy), "t-busy")
    for iid in (busy, idle):
        world.autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=iid, ShouldDecrementDesiredCapacity=True
        )
    report = world.bridge.sync()
    assert [(v.instance_id, v.tasks) for v in report.violations] == [(busy, ("t-busy",))]
    assert world.invariant_violations() == [str(report.violations[0])]
    assert "t-busy" in world.invariant_violations()[0]
    lost = [t for t in world.core.completed_tasks if t.task_id == "t-busy"]
    assert [t.state for t in lost] == ["TASK_LOST"]


def test_a_task_that_ended_before_the_termination_is_no_violation(
    world: SimWorld, clock: VirtualClock
) -> None:
    asg = world.asg_name("web", "us-east-1c")
    (iid,) = set_desired(world, asg, 1)
    world.bridge.sync()
    clock.advance(BOOT_S)
    world.bridge.sync()
    run_task(world.core, agent_id_for(iid), "t-done")
    world.core.kill("fw-test", "t-done")
    set_desired(world, asg, 0)
    assert world.bridge.sync().removed == (iid,)
    assert world.invariant_violations() == []


def test_an_agent_the_operator_removed_is_not_registered_again(
    world: SimWorld, clock: VirtualClock
) -> None:
    asg = world.asg_name("batch", "us-east-1c")
    (iid,) = set_desired(world, asg, 1)
    world.bridge.sync()
    clock.advance(BOOT_S)
    world.bridge.sync()
    world.core.drain_agent(agent_id_for(iid), 0.0, mark_gone=True)
    world.core.tick()
    assert agent_id_for(iid) not in world.core.agents
    clock.advance(BOOT_S)
    assert world.bridge.sync().registered == ()
    assert agent_id_for(iid) not in world.core.agents
    set_desired(world, asg, 0)
    report = world.bridge.sync()
    assert report.errors == () and report.removed == ()  # nothing left to remove


def _failing(client: Any, operation: str, reply: Callable[[], AWSResponse]) -> list[bool]:
    """Fail every call to `operation` while the returned switch holds True."""
    switch = [True]
    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(
        f"before-send.{service}.{operation}", lambda **_kw: reply() if switch[0] else None
    )
    return switch


def _own_bridge(world: SimWorld, clock: VirtualClock) -> tuple[FleetBridge, Any, Any]:
    autoscaling, ec2 = world.make_clients()
    caller = AwsCaller(max_attempts=3, sleep=lambda _s: None)
    bridge = FleetBridge(
        world.core,
        autoscaling,
        ec2,
        cluster=CLUSTER,
        rules=world.settings,
        clock=clock,
        boot_delay_s=BOOT_S,
        caller=caller,
    )
    return bridge, autoscaling, ec2


@pytest.mark.parametrize(
    ("operation", "reply"),
    [("DescribeAutoScalingGroups", throttle_reply), ("DescribeInstances", server_error_reply)],
)
def test_a_failed_read_changes_nothing_and_the_next_step_catches_up(
    world: SimWorld, clock: VirtualClock, operation: str, reply: Callable[[], AWSResponse]
) -> None:
    bridge, autoscaling, ec2 = _own_bridge(world, clock)
    asg = world.asg_name("batch", "us-east-1a")
    set_desired(world, asg, 2)
    bridge.sync()
    clock.advance(BOOT_S)
    switch = _failing(
        autoscaling if operation.startswith("DescribeAuto") else ec2, operation, reply
    )
    report = bridge.sync()
    assert len(report.errors) == 1 and operation in report.errors[0]
    assert report.registered == report.removed == ()
    assert not world.core.agents and bridge.error_count == 1
    switch[0] = False
    after = bridge.sync()
    assert after.errors == () and len(after.registered) == 2
    assert set(world.core.agents) == {agent_id_for(i) for i in instance_ids(world, asg)}


def test_an_unreadable_group_keeps_its_agents_and_others_go_on(
    world: SimWorld, clock: VirtualClock
) -> None:
    bad, good = world.asg_name("batch", "us-east-1a"), world.asg_name("batch", "us-east-1b")
    kept = set_desired(world, bad, 1)
    world.bridge.sync()
    clock.advance(BOOT_S)
    world.bridge.sync()
    # A second zone makes the group one the adapter refuses to read.
    subnets = ",".join(world.subnets[z] for z in ("us-east-1a", "us-east-1b"))
    world.autoscaling.update_auto_scaling_group(AutoScalingGroupName=bad, VPCZoneIdentifier=subnets)
    fresh = set_desired(world, good, 1)
    world.bridge.sync()
    clock.advance(BOOT_S)
    report = world.bridge.sync()
    assert report.errors and bad in report.errors[0]
    assert report.registered == tuple(fresh) and report.removed == ()
    assert set(world.core.agents) == {agent_id_for(i) for i in kept + fresh}


def test_agents_may_be_named_by_instance_id_without_reading_ec2(clock: VirtualClock) -> None:
    """A bench's world of tens of thousands of instances skips DescribeInstances (moto's is
    quadratic); the agent is otherwise the same."""
    with SimWorld(spec(ec2_hostnames=False), clock=clock) as world:
        ids = set_desired(world, world.asg_name("batch", "us-east-1a"), 2)
        assert world.bridge.sync().waiting  # seen booting
        clock.advance(BOOT_S)
        assert world.bridge.sync().registered == tuple(ids)
        views = OperatorClient(world.mesos_address).agents()
        assert sorted(v.hostname for v in views) == ids
        assert {v.attributes["asg"] for v in views} == {world.asg_name("batch", "us-east-1a")}


def test_a_step_without_a_reread_goes_on_from_the_last_read_of_the_groups(
    world: SimWorld, clock: VirtualClock
) -> None:
    """A replay's steps between passes: booting instances register on the clock alone."""
    reads = world.bridge._caller.metrics  # the bridge's own calls

    def described() -> int:
        return reads.count("DescribeAutoScalingGroups", "ok")

    asg = world.asg_name("batch", "us-east-1a")
    ids = set_desired(world, asg, 2)
    assert world.bridge.sync(reread=False).waiting == tuple(sorted(ids))  # no last read: read
    before = described()
    clock.advance(BOOT_S)
    report = world.bridge.sync(reread=False)
    assert report.registered == tuple(sorted(ids)) and described() == before
    more = set_desired(world, asg, 3)
    assert world.bridge.sync(reread=False).waiting == ()  # the caller said nothing changed
    assert world.bridge.sync().waiting == tuple(sorted(set(more) - set(ids)))
    assert described() == before + 1
