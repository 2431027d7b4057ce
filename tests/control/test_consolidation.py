"""Consolidation over moto + the emulator: an under-used agent is cordoned (deactivated, its
task keeps running), terminated once its task ends, and given back, instead of a new
instance, when waiting work needs its room."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controlplane.model import Task
from controlplane.sim.clock import VirtualClock
from controlplane.sim.mesos_master.state import SimTask
from controlplane.sim.world import SimWorld
from tests.control.conftest import ListDemand, Loop, world_spec


@pytest.fixture
def three(clock: VirtualClock) -> Iterator[SimWorld]:
    with SimWorld(world_spec(desired=1), clock=clock) as w:  # one m5.xlarge per zone
        yield w


def _land(world: SimWorld, agent_id: str, name: str, cpus: float, run_s: float) -> None:
    core = world.core
    with core.lock:
        agent = core.agents[agent_id]
        task = SimTask(
            name,
            name,
            "fw-test",
            agent.id,
            {"cpus": cpus, "mem": 512.0},
            {},
            core.now(),
            core.now() + run_s,
        )
        core.launch(agent, task)


def _agents(world: SimWorld) -> dict[str, bool]:
    """Agent id -> active, by id."""
    with world.core.lock:
        return {a.id: a.active for a in sorted(world.core.agents.values(), key=lambda a: a.id)}


def test_an_under_used_agent_is_cordoned_then_leaves_when_its_task_ends(
    three: SimWorld, clock: VirtualClock
) -> None:
    demand = ListDemand()
    loop = Loop(three, clock, demand)
    loop.step()
    loop.step(25)  # three agents registered, idle
    light, *others = sorted(_agents(three))
    _land(three, light, "short", 1.0, 300.0)  # 25% of 4 cpus
    for n, agent in enumerate(others):
        _land(three, agent, f"long-{n}", 2.0, 7200.0)  # 50%: not a candidate
    result = loop.step(5)
    assert result.plan is not None
    assert [c.agent for c in result.plan.cordon] == [light]
    assert _agents(three)[light] is False  # deactivated ...
    with three.core.lock:
        assert [t.task_id for t in three.core.agents[light].tasks.values()] == ["short"]
    loop.step(60)
    assert light in _agents(three)  # ... and kept while its task runs
    loop.step(300)  # the task ended: deactivated and empty, so it goes (two-phase)
    loop.step(60)
    assert light not in _agents(three)
    assert sum(loop.desired().values()) == 2
    assert three.invariant_violations() == []


def test_a_cordoned_agent_is_given_back_instead_of_a_new_instance(
    three: SimWorld, clock: VirtualClock
) -> None:
    demand = ListDemand()
    loop = Loop(three, clock, demand)
    loop.step()
    loop.step(25)
    light, *others = sorted(_agents(three))
    _land(three, light, "short", 1.0, 3600.0)
    for n, agent in enumerate(others):
        _land(three, agent, f"long-{n}", 2.0, 7200.0)
    first = loop.step(5)
    assert first.plan is not None and [c.agent for c in first.plan.cordon] == [light]
    # Work that only the cordoned agent has room for (3 cpus; the others keep 2 free).
    demand.tasks = [Task(id="w", job="w", resources={"cpus": 3.0, "mem": 1024.0}, pool="batch")]
    again = loop.step(60)
    assert again.plan is not None
    assert [u.agent for u in again.plan.uncordon] == [light]
    assert again.plan.scale_up == []
    assert [p.agent for p in again.plan.placements] == [light]
    assert _agents(three)[light] is True  # reactivated
    assert sum(loop.desired().values()) == 3
    stored = loop.parts.store.load()
    assert light not in stored.intents
    assert stored.history["batch"].last_uncordon is not None
