"""Faults contained: an instance that never registers, a malformed group, a master that
forgets its agents, drains capped per pass, the do-not-disrupt marker, and raises recorded
even when the pass fails later. moto + the Mesos emulator + DynamoDB, stepped by hand."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.sim.clock import VirtualClock
from controlplane.sim.world import SimWorld
from tests.control.conftest import ZONES, ListDemand, Loop, tasks
from tests.control.test_reconcile import _agents, _idle_fleet


def test_an_instance_that_never_registers_is_terminated_and_its_zone_backed_off(
    world: SimWorld, clock: VirtualClock
) -> None:
    dead = ZONES[0]
    world.bridge.dead_zones.add(dead)
    demand = ListDemand(tasks(3))
    loop = Loop(world, clock, demand, changes={"loop": {"registration_deadline_s": 300}})
    loop.step()
    assert sorted(loop.desired().values()) == [1, 1, 1]
    loop.step(25)
    assert len(_agents(world)) == 2  # the dead zone's instance boots, never registers
    demand.tasks = []  # the demand ends; the stale instance must not linger for hours
    loop.step(200)
    assert loop.desired()[f"batch-{dead}"] == 1  # within the deadline: still waiting
    result = loop.step(120)
    expired = [a for a in result.actions if a.kind == "expire"]
    assert [a.outcome for a in expired] == ["done"], result.actions
    assert "registration deadline" in expired[0].detail
    assert loop.desired()[f"batch-{dead}"] == 0
    ledger = loop.parts.store.load().ledger
    assert f"batch-{dead}" in ledger.backoffs  # the zone is backed off
    assert not loop.parts.store.load().instances.unregistered  # nothing left waiting
    # New demand goes to the healthy zones while the dead one is backed off.
    demand.tasks = tasks(2, prefix="u")
    loop.step(1)
    assert loop.desired()[f"batch-{dead}"] == 0


def test_a_malformed_group_is_skipped_and_the_other_pools_still_pass(
    world: SimWorld, clock: VirtualClock
) -> None:
    bad = f"batch-{ZONES[1]}"
    world.autoscaling.create_or_update_tags(
        Tags=[
            {
                "ResourceId": bad,
                "ResourceType": "auto-scaling-group",
                "Key": "controlplane:min_idle",
                "Value": "lots",
                "PropagateAtLaunch": False,
            }
        ]
    )
    loop = Loop(world, clock, ListDemand(tasks(4)))
    result = loop.step()
    assert result.outcome == "ok", result.error
    assert result.snapshot is not None
    seen = {g.asg for p in result.snapshot.pools for g in p.groups}
    assert bad not in seen
    # The pool's groups disagree with the bad one no more: its two others still scale.
    assert loop.desired()[bad] == 0
    assert sum(loop.desired().values()) == 4


def test_drain_records_survive_a_master_that_lists_no_agents(
    world: SimWorld, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = _idle_fleet(world, clock)
    loop.two_phase(monkeypatch)
    loop.step(61)
    intents = loop.parts.store.load().intents
    assert len(intents) == 3
    with world.core.lock:
        hidden = dict(world.core.agents)
        world.core.agents.clear()  # a master failover: GET_STATE lists no agent for a while
    result = loop.step(30)
    assert result.outcome == "ok"
    assert loop.parts.store.load().intents.keys() == intents.keys()  # nothing forgotten
    assert loop.writes("TerminateInstanceInAutoScalingGroup") == 0  # nothing on a guess
    with world.core.lock:
        world.core.agents.update(hidden)  # the agents re-register, still deactivated
    loop.step(30)
    assert loop.writes("TerminateInstanceInAutoScalingGroup") == 3
    assert sorted(loop.desired().values()) == [0, 0, 0]


def test_drains_per_pass_are_capped(world: SimWorld, clock: VirtualClock) -> None:
    rules: dict[str, Any] = {
        "idle_grace_s": 60,
        "scale_up_cooldown_s": 0,
        "scale_down_cooldown_s": 0,
        "max_drains_per_pass": 1,
    }
    loop = _idle_fleet(world, clock, default_rules=rules)
    result = loop.step(61)
    assert result.plan is not None and len(result.plan.scale_down) == 1
    assert any("at most 1 drains per pass" in h.reason for h in result.plan.holds)


def test_a_marked_agent_is_never_drained(world: SimWorld, clock: VirtualClock) -> None:
    loop = _idle_fleet(world, clock)
    agents = sorted(_agents(world))
    with world.core.lock:
        world.core.agents[agents[0]].attributes["do_not_disrupt"] = "true"
    loop.step(61)
    assert _agents(world)[agents[0]] is True
    assert agents[0] not in loop.parts.store.load().intents
    assert len(loop.parts.store.load().intents) == 2


def test_a_raise_is_recorded_even_when_the_pass_fails_later(
    world: SimWorld, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = Loop(world, clock, ListDemand(tasks(3)))

    def broken(_: object) -> list[object]:
        raise RuntimeError("a bug after the scale-up")

    monkeypatch.setattr("controlplane.control.acting.waiting_terminations", broken)
    result = loop.step()
    assert (result.outcome, result.stage) == ("failed", "act")
    assert sum(loop.desired().values()) == 3  # the raise was made...
    raises = loop.parts.store.load().ledger.raises
    assert sorted(raises) == sorted(world.asg_names)  # ...and recorded before the failure
    monkeypatch.undo()
    raised = loop.writes("SetDesiredCapacity")
    assert loop.step().outcome == "ok"
    assert loop.writes("SetDesiredCapacity") == raised  # not raised twice


def test_agents_lost_by_mesos_halt_the_pools_scale_down(
    world: SimWorld, clock: VirtualClock
) -> None:
    loop = _idle_fleet(
        world,
        clock,
        loop={"interval_s": 30, "lease_ttl_s": 60, "ok_unregistered": 0},
    )
    with world.core.lock:
        hidden = dict(world.core.agents)
        world.core.agents.clear()  # registered last pass, unlisted now: lost, not booting
    result = loop.step(61)
    assert result.outcome == "ok"
    assert loop.writes("TerminateInstanceInAutoScalingGroup") == 0
    assert not [a for a in result.actions if a.kind == "expire"]
    for _ in range(3):  # the halt lasts while they stay lost, past the deadline too
        loop.step(400)
    assert loop.writes("TerminateInstanceInAutoScalingGroup") == 0
    assert sorted(loop.desired().values()) == [1, 1, 1]
    with world.core.lock:
        world.core.agents.update(hidden)
    loop.step(1)  # back: idle from now
    loop.step(61)  # idle past the grace: drained as usual
    loop.step(30)
    assert loop.writes("TerminateInstanceInAutoScalingGroup") == 3
