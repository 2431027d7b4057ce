"""A weighted mixed-instance pool over moto + the emulator: the loop raises it in capacity
units for the instances it needs (each counted as the smallest type), and the larger agents
that arrive are used for everything they offer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controlplane.sim.clock import VirtualClock
from controlplane.sim.world import PoolSpec, SimWorld
from tests.control.conftest import ListDemand, Loop, spec_of, tasks


@pytest.fixture
def mixed_world(clock: VirtualClock) -> Iterator[SimWorld]:
    # moto launches the template's type (m5.2xlarge, 8 vCPU) weighted as the first override.
    pool = PoolSpec(
        name="batch",
        instance_type="m5.2xlarge",
        max=20,
        overrides=(("m5.2xlarge", 2), ("m5.xlarge", 1)),
    )
    spec = spec_of(pool)
    with SimWorld(spec, clock=clock) as w:
        yield w


def test_a_weighted_mixed_pool_scales_up_and_its_larger_agents_are_used(
    mixed_world: SimWorld, clock: VirtualClock
) -> None:
    demand = ListDemand(tasks(6, cpus=3.0))
    loop = Loop(mixed_world, clock, demand)
    first = loop.step()
    assert first.snapshot is not None and first.plan is not None
    (pool,) = first.snapshot.pools
    assert pool.capacity["cpus"] == 4.0  # an m5.xlarge may arrive: one 3-cpu task each
    assert pool.instance_type == "m5.2xlarge|m5.xlarge"
    asked = sum(a.count for a in first.plan.scale_up)
    assert asked == 6
    # Units: each instance asked for is raised as the heaviest weight (2).
    assert sum(loop.desired().values()) == 2 * asked
    placed = loop.step(25)  # the m5.2xlarge agents register with 8 cpus each
    assert placed.plan is not None
    assert placed.plan.summary.placed_on_agents == 6
    used = {p.agent for p in placed.plan.placements if p.agent is not None}
    assert len(used) == 3  # two 3-cpu tasks on each 8-cpu agent: the larger type is used
    assert placed.plan.scale_up == []
    with mixed_world.core.lock:
        cpus = sorted(a.total["cpus"] for a in mixed_world.core.agents.values())
    assert cpus == [8.0] * 6
    for task in demand.tasks[:]:
        demand.tasks.remove(task)
    loop.step(61)
    loop.step(30)
    assert sum(loop.desired().values()) == 0  # and back to zero, within MinSize in units


@pytest.fixture
def family_world(clock: VirtualClock) -> Iterator[SimWorld]:
    # One operators' pool "batch" with cheap small groups and dear large ones.
    small = PoolSpec(
        name="small",
        family="batch",
        instance_type="m5.large",
        max=10,
        tags={"controlplane:hourly_price": "0.096"},
    )
    large = PoolSpec(
        name="large",
        family="batch",
        instance_type="m5.4xlarge",
        max=10,
        tags={"controlplane:hourly_price": "0.768"},
    )
    spec = spec_of(small, large)
    with SimWorld(spec, clock=clock) as w:
        yield w


def test_a_pool_of_two_instance_types_opens_the_cheapest_that_fits(
    family_world: SimWorld, clock: VirtualClock
) -> None:
    small_work = tasks(3, cpus=0.5, prefix="s")  # fits an m5.large (2 vCPU)
    big_work = tasks(1, cpus=8.0, prefix="b")  # only an m5.4xlarge (16 vCPU) holds it
    demand = ListDemand(small_work + big_work)  # every task names the pool "batch"
    loop = Loop(family_world, clock, demand)
    first = loop.step()
    assert first.snapshot is not None and first.plan is not None
    assert {p.name: p.family for p in first.snapshot.pools} == {
        "batch/m5.4xlarge": "batch",
        "batch/m5.large": "batch",
    }
    opened = {p.task: p.new.pool for p in first.plan.placements if p.new is not None}
    assert opened["b0"] == "batch/m5.4xlarge"
    assert {opened[f"s{i}"] for i in range(3)} == {"batch/m5.large"}
    placed = loop.step(25)  # agents register naming their pool "batch": each finds its type
    assert placed.snapshot is not None and placed.plan is not None
    assert placed.plan.summary.placed_on_agents == 4
    by_agent = {a.id: a.pool for a in placed.snapshot.agents}
    on = {p.task: by_agent[p.agent] for p in placed.plan.placements if p.agent is not None}
    assert on["b0"] == "batch/m5.4xlarge"
    assert set(on) == {"b0", "s0", "s1", "s2"}  # (small ones may pack beside the big one)
