"""Reconcile passes against moto + the Mesos emulator + DynamoDB (moto), stepped by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.sim.clock import VirtualClock
from controlplane.sim.world import SimWorld
from controlplane.state import LeaseLostError, StateChanges
from tests.control.conftest import ZONES, ListDemand, Loop, tasks
from tests.sim.conftest import run_task


def _agents(world: SimWorld) -> dict[str, bool]:
    """Agent id -> active, as the master sees it."""
    with world.core.locked():
        return {a.id: a.active for a in world.core.agents.values()}


def test_demand_scales_up_balanced_once_then_idle_agents_leave_in_the_pass_that_drains_them(
    world: SimWorld, clock: VirtualClock
) -> None:
    demand = ListDemand(tasks(6))
    loop = Loop(world, clock, demand)
    first = loop.step()
    assert first.outcome == "ok", first.error
    assert sorted(loop.desired().values()) == [2, 2, 2]  # balanced over the three zones
    raised = loop.writes("SetDesiredCapacity")
    again = loop.step()  # same world: nothing new to do
    assert again.outcome == "ok"
    assert loop.writes("SetDesiredCapacity") == raised
    loop.step(25)  # instances boot and register
    assert len(_agents(world)) == 6
    held = loop.step()
    assert held.plan is not None and held.plan.summary.placed_on_agents == 6
    assert held.plan.scale_down == [] and held.plan.scale_up == []

    demand.tasks = []
    drained = loop.step(61)  # idle past the grace: deactivated, read again empty, terminated
    kinds = [a.kind for a in drained.actions if a.outcome == "done"]
    assert kinds.count("deactivate") == 6
    assert kinds.index("deactivate") < kinds.index("scale_down")  # deactivated first
    assert sorted(loop.desired().values()) == [0, 0, 0]
    assert loop.writes("TerminateInstanceInAutoScalingGroup") == 6
    assert _agents(world) == {}
    state = loop.parts.store.load()
    assert {i.phase for i in state.intents.values()} == {"terminating"}
    assert state.history["batch"].last_scale_down is not None
    loop.step(30)
    assert loop.parts.store.load().intents == {}
    assert loop.writes("TerminateInstanceInAutoScalingGroup") == 6


def _idle_fleet(world: SimWorld, clock: VirtualClock, **changes: object) -> Loop:
    loop = Loop(world, clock, ListDemand(), changes=changes)
    for zone in ZONES:
        world.autoscaling.set_desired_capacity(
            AutoScalingGroupName=f"batch-{zone}", DesiredCapacity=1
        )
    world.bridge.sync()  # first seen now: registered after the boot delay
    loop.step(25)
    assert len(_agents(world)) == 3
    return loop


def test_a_launch_that_lands_with_the_deactivation_keeps_the_instance_and_reactivates_it(
    world: SimWorld, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = _idle_fleet(world, clock)
    raced: list[str] = []
    deactivate = world.core.set_active

    def deactivate_then_launch(agent_id: str, active: bool) -> None:
        deactivate(agent_id, active)
        if not active and not raced:  # a launch the master took just before the call
            raced.append(agent_id)
            run_task(world.core, agent_id, "late")

    monkeypatch.setattr(world.core, "set_active", deactivate_then_launch)
    loop.step(61)
    assert len(raced) == 1
    assert list(_agents(world)) == raced  # the other two left in the same pass
    assert _agents(world)[raced[0]] is False
    assert loop.writes("TerminateInstanceInAutoScalingGroup") == 2
    loop.step(5)
    assert _agents(world)[raced[0]] is True  # reactivated
    assert raced[0] not in loop.parts.store.load().intents
    assert sorted(loop.desired().values()) == [0, 0, 1]


def test_a_failed_read_after_deactivation_leaves_termination_to_the_next_pass(
    world: SimWorld, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = _idle_fleet(world, clock)
    loop.two_phase(monkeypatch)
    loop.step(61)
    state = loop.parts.store.load()
    assert {i.phase for i in state.intents.values()} == {"deactivated"}
    assert loop.writes("TerminateInstanceInAutoScalingGroup") == 0
    assert list(_agents(world).values()) == [False] * 3
    loop.restart()  # and the daemon was killed: nothing survives but the table
    loop.step(5)
    assert loop.writes("TerminateInstanceInAutoScalingGroup") == 3
    assert sorted(loop.desired().values()) == [0, 0, 0]


def test_settle_time_holds_termination(world: SimWorld, clock: VirtualClock) -> None:
    loop = _idle_fleet(
        world, clock, loop={"interval_s": 30, "lease_ttl_s": 60, "drain_settle_s": 40}
    )
    loop.step(61)
    loop.step(30)
    assert loop.writes("TerminateInstanceInAutoScalingGroup") == 0
    loop.step(15)
    assert loop.writes("TerminateInstanceInAutoScalingGroup") == 3


def test_a_pass_without_a_valid_lease_acts_no_further(world: SimWorld, clock: VirtualClock) -> None:
    loop = Loop(world, clock, ListDemand(tasks(3)))
    lease = loop.renew()
    clock.advance(58)  # inside the 5 s margin before expiry
    result = loop.parts.reconciler.run_pass(lease)
    assert result.outcome == "lost_lease"
    assert loop.writes("SetDesiredCapacity") == 0
    clock.advance(5)
    other = loop.parts.store.acquire("cp-2", loop.now(), 60)
    assert other is not None and other.token > lease.token
    with pytest.raises(LeaseLostError):
        loop.parts.store.commit(lease, loop.now(), StateChanges(delete_intents=["x"]))


def test_dry_run_writes_nothing(world: SimWorld, clock: VirtualClock) -> None:
    loop = _idle_fleet(world, clock)
    dry = Loop(world, clock, ListDemand(tasks(9)), changes={"dry_run": True})
    clock.advance(61)
    world.bridge.sync()
    result = dry.parts.reconciler.run_pass(dry.renew())
    assert result.outcome == "ok" and result.plan is not None
    assert result.plan.scale_up  # it would scale up ...
    assert {a.outcome for a in result.actions if a.kind == "scale_up"} == {"dry_run"}
    assert dry.writes("SetDesiredCapacity") == 0  # ... and did not
    assert sorted(loop.desired().values()) == [1, 1, 1]
    assert all(_agents(world).values())
    assert dry.parts.store.load().history == {}


def test_mesos_unreachable_fails_the_pass_before_any_write(
    world: SimWorld, clock: VirtualClock
) -> None:
    loop = _idle_fleet(world, clock)
    world.emulator.become_standby(None)  # no leader: 503 on every call
    result = loop.step(61)
    assert (result.outcome, result.stage) == ("failed", "observe_mesos")
    assert loop.parts.store.load().intents == {}
    world.emulator.become_leader()
    assert loop.step(1).outcome == "ok"
    assert len(loop.parts.store.load().intents) == 3


def test_each_pass_is_recorded_and_replays_to_the_same_plan(
    world: SimWorld, clock: VirtualClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loop = Loop(
        world, clock, ListDemand(tasks(4)), changes={"record": {"dir": str(tmp_path), "keep": 2}}
    )
    for _ in range(3):
        loop.step(1)
    snapshots = sorted(tmp_path.glob("*-snapshot.json"))
    assert len(snapshots) == 2  # only the newest `keep`
    plan_file = Path(str(snapshots[-1]).replace("-snapshot.json", "-plan.json"))
    capsys.readouterr()
    assert main(["plan", str(snapshots[-1])]) == 0
    assert capsys.readouterr().out == plan_file.read_text()
