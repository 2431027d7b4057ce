"""GPU pools over moto + the emulator: one scales from zero for GPU work and back to zero,
and CPU-only work neither opens nor keeps a GPU instance."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controlplane.model import Task
from controlplane.sim.clock import VirtualClock
from controlplane.sim.world import PoolSpec, SimWorld
from tests.control.conftest import ListDemand, Loop, spec_of


@pytest.fixture
def gpu_world(clock: VirtualClock) -> Iterator[SimWorld]:
    spec = spec_of(
        PoolSpec(name="general", instance_type="m5.xlarge", max=10),
        PoolSpec(name="gpu", instance_type="g4dn.xlarge", max=4),
    )
    with SimWorld(spec, clock=clock) as w:
        yield w


def _task(i: int, gpus: float = 0.0) -> Task:
    resources = {"cpus": 1.0, "mem": 1024.0, **({"gpus": gpus} if gpus else {})}
    return Task(id=f"t{i}", job="j", resources=resources)


def _desired(loop: Loop, pool: str) -> int:
    return sum(v for k, v in loop.desired().items() if k.startswith(f"{pool}-"))


def test_a_gpu_pool_scales_from_zero_for_gpu_work_and_back(
    gpu_world: SimWorld, clock: VirtualClock
) -> None:
    demand = ListDemand([_task(i, gpus=1) for i in range(2)])  # no pool named: any may do
    loop = Loop(gpu_world, clock, demand)
    first = loop.step()
    assert first.snapshot is not None
    gpu = next(p for p in first.snapshot.pools if p.name == "gpu")
    assert gpu.capacity["gpus"] == 1.0  # known from the instance type, no agent running
    assert (_desired(loop, "gpu"), _desired(loop, "general")) == (2, 0)
    held = loop.step(25)  # booted and registered, with their GPUs
    assert held.plan is not None and held.plan.summary.placed_on_agents == 2
    with gpu_world.core.lock:
        gpus = [a.total.get("gpus") for a in gpu_world.core.agents.values()]
    assert gpus == [1.0, 1.0]
    demand.tasks = []
    loop.step(61)
    loop.step(30)
    assert _desired(loop, "gpu") == 0  # and back to zero


def test_cpu_work_neither_opens_nor_keeps_a_gpu_instance(
    gpu_world: SimWorld, clock: VirtualClock
) -> None:
    demand = ListDemand([_task(0, gpus=1)])
    loop = Loop(gpu_world, clock, demand)
    loop.step()
    loop.step(25)  # one GPU agent, running the GPU task
    demand.tasks = [_task(0, gpus=1), *(_task(i) for i in range(1, 4))]
    result = loop.step()
    assert result.plan is not None
    on_gpu = {
        p.task
        for p in result.plan.placements
        if p.agent is not None and p.agent in _gpu_agents(gpu_world)
    } | {p.task for p in result.plan.placements if p.new is not None and p.new.pool == "gpu"}
    assert on_gpu <= {"t0"}  # the CPU tasks went to the general pool
    assert _desired(loop, "gpu") == 1 and _desired(loop, "general") >= 1
    demand.tasks = [_task(i) for i in range(1, 4)]  # the GPU work ends; CPU work goes on
    loop.step(25)
    loop.step(61)
    loop.step(30)
    assert _desired(loop, "gpu") == 0  # nothing keeps the idle GPU instance alive


def _gpu_agents(world: SimWorld) -> set[str]:
    with world.core.lock:
        return {a.id for a in world.core.agents.values() if a.total.get("gpus")}
