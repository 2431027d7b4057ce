"""Property: after every step, the agents are exactly the instances booted and not yet gone.

One moto world serves every example; each example gets a fresh master, bridge and clock
and starts from empty groups. A reference model, stepped at the same instants, says which
instances must have agents and which terminations broke the safety rule.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from controlplane.sim.clock import VirtualClock
from controlplane.sim.fleet import FleetBridge, agent_id_for
from controlplane.sim.mesos_master import MasterCore
from controlplane.sim.world import PoolSpec, SimWorld
from tests.sim.conftest import instance_ids, run_task, set_desired, spec

ZONES = ("us-east-1a", "us-east-1b")
ASGS = tuple(f"batch-{zone}" for zone in ZONES)
#: One step: new desired per group (None: unchanged), a task on the n-th live agent, a
#: termination of the n-th instance, then a clock advance, then one sync.
Step = tuple[tuple[int | None, int | None], int | None, int | None, float]

steps = st.lists(
    st.tuples(
        st.tuples(st.none() | st.integers(0, 3), st.none() | st.integers(0, 3)),
        st.none() | st.integers(0, 5),
        st.none() | st.integers(0, 5),
        st.sampled_from([0.0, 1.0, 29.0, 30.0, 45.0, 75.0, 100.0]),
    ),
    min_size=1,
    max_size=8,
)
#: Always tried: launch, boot, a task on one agent, terminate it (and the other one).
BUSY_TERMINATION: list[Step] = [
    ((2, None), None, None, 30.0),
    ((None, None), 0, 0, 0.0),
    ((None, None), None, 0, 80.0),
    ((None, 1), None, None, 0.0),
]


@pytest.fixture(scope="module")
def shared_world() -> Iterator[SimWorld]:
    pools = (PoolSpec(name="batch", instance_type="m5.large", zones=ZONES),)
    with SimWorld(spec(pools=pools, zones=ZONES)) as world:
        yield world


class Model:
    """Which instances must have agents, stepped at each sync."""

    def __init__(self, boot_s: float, gone_s: float) -> None:
        self.boot_s, self.gone_s = boot_s, gone_s
        self.first_seen: dict[str, float] = {}
        self.gone_at: dict[str, float] = {}
        self.registered: set[str] = set()
        self.busy: set[str] = set()
        self.violations: list[str] = []

    def step(self, now: float, current: set[str]) -> None:
        for iid in current - set(self.first_seen):
            self.first_seen[iid] = now
        for iid in sorted(set(self.first_seen) - current - set(self.gone_at)):
            self.gone_at[iid] = now
            if iid in self.registered and iid in self.busy:
                self.violations.append(iid)
        self.registered |= {i for i in current if now - self.first_seen[i] >= self.boot_s}
        self.registered -= {i for i, at in self.gone_at.items() if now - at >= self.gone_s}


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=steps, boot_s=st.sampled_from([0.0, 30.0]), gone_s=st.sampled_from([0.0, 75.0]))
@example(plan=BUSY_TERMINATION, boot_s=30.0, gone_s=0.0)
@example(plan=BUSY_TERMINATION, boot_s=30.0, gone_s=75.0)
def test_agents_are_the_booted_instances_not_yet_gone(
    shared_world: SimWorld, plan: list[Step], boot_s: float, gone_s: float
) -> None:
    world = shared_world
    for asg in ASGS:
        set_desired(world, asg, 0)
    clock = VirtualClock()
    core = MasterCore(clock)
    bridge = FleetBridge(
        core,
        *world.make_clients(),
        cluster=world.spec.cluster,
        rules=world.settings,
        clock=clock,
        boot_delay_s=boot_s,
        gone_delay_s=gone_s,
    )
    model = Model(boot_s, gone_s)
    tasks = 0
    for desired, task, terminate, advance in plan:
        for asg, size in zip(ASGS, desired, strict=True):
            if size is not None:
                set_desired(world, asg, size)
        live = sorted(model.registered - set(model.gone_at))
        if task is not None and live:
            iid = live[task % len(live)]
            tasks += 1
            run_task(core, agent_id_for(iid), f"t{tasks}")
            model.busy.add(iid)
        present = [i for asg in ASGS for i in instance_ids(world, asg)]
        if terminate is not None and present:
            world.autoscaling.terminate_instance_in_auto_scaling_group(
                InstanceId=present[terminate % len(present)], ShouldDecrementDesiredCapacity=True
            )
        clock.advance(advance)
        report = bridge.sync()
        model.step(clock.now(), {i for asg in ASGS for i in instance_ids(world, asg)})
        assert report.errors == ()
        assert set(core.agents) == {agent_id_for(i) for i in model.registered}
        assert [v.instance_id for v in bridge.violations] == model.violations
