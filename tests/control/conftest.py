"""A control loop on loopback: moto server, the Mesos master emulator, DynamoDB in moto.

`Loop` drives reconcile passes by hand on a virtual clock, so every step of the two-phase
scale-down can be looked at; the daemon tests run the real thing in real time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pytest

from controlplane.aws.pool_rules import AdapterSettings, PoolRules
from controlplane.config import Settings
from controlplane.control.reconcile import PassResult
from controlplane.control.wiring import Parts, build
from controlplane.mesos.replies import MesosError
from controlplane.model import Task
from controlplane.sim.clock import VirtualClock, utc
from controlplane.sim.world import PoolSpec, SimWorld, WorldSpec
from controlplane.state import Lease
from tests.support.api_client import shared_token_file

CLUSTER = "e2e"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
RULES = PoolRules(
    min_idle=0,
    max_idle=0,
    idle_grace_s=60,
    scale_up_cooldown_s=0,
    scale_down_cooldown_s=0,
    mem_reserve_mib=1024,
)


@dataclass
class ListDemand:
    """Pending tasks as a test says they are."""

    tasks: list[Task] = field(default_factory=list)

    def pending(self) -> list[Task]:
        return list(self.tasks)


def tasks(n: int, cpus: float = 3.0, prefix: str = "t") -> list[Task]:
    return [
        Task(id=f"{prefix}{i}", job=prefix, resources={"cpus": cpus, "mem": 1024.0}, pool="batch")
        for i in range(n)
    ]


def settings_for(world: SimWorld, **changes: object) -> Settings:
    base: dict[str, object] = {
        "cluster": CLUSTER,
        "mesos": {"masters": [world.mesos_address], "attempts": 2, "timeout_s": 5},
        "aws": {
            "region": world.region,
            "endpoint_url": world.moto_url,
            "state_table": "cp-state",
            "discovery_ttl_s": 1,
        },
        "loop": {"interval_s": 30, "lease_ttl_s": 60, "lease_margin_s": 5},
        "demand": {
            "access": {"tokens_file": str(shared_token_file())},
            "commands": {"noop": ["true"]},
            "default_command": "noop",
        },
        "default_rules": RULES.model_dump(),
    }
    base.update(changes)
    return Settings.model_validate(base)


class Loop:
    """One control plane's parts on a world, stepped by hand."""

    def __init__(
        self,
        world: SimWorld,
        clock: VirtualClock,
        demand: ListDemand,
        *,
        holder: str = "cp-1",
        changes: dict[str, object] | None = None,
    ) -> None:
        self.world = world
        self.clock = clock
        self.demand = demand
        self.holder = holder
        self.settings = settings_for(world, **(changes or {}))
        self.parts: Parts = self.restart()
        self.parts.store.create_table()
        self.lease: Lease | None = None

    def now(self) -> datetime:
        return utc(self.clock.now())

    def restart(self) -> Parts:
        """Fresh parts, as a new process would build them (nothing carried in memory)."""
        self.parts = build(
            self.settings, demand=self.demand, clock=self.now, session=self.world.session
        )
        return self.parts

    def renew(self) -> Lease:
        lease = self.parts.store.acquire(self.holder, self.now(), self.settings.loop.lease_ttl_s)
        assert lease is not None, "lease held by another holder"
        self.lease = lease
        return lease

    def step(self, advance_s: float = 0.0) -> PassResult:
        """Advance time, let instances boot or leave, renew the lease, run one pass."""
        if advance_s:
            self.clock.advance(advance_s)
        self.world.core.tick()  # tasks due to end end now, not whenever the ticker runs
        self.world.bridge.sync()
        result = self.parts.reconciler.run_pass(self.renew())
        self.world.bridge.sync()
        self.check()
        return result

    def check(self) -> None:
        """The invariants: no instance lost with a task, every group within its bounds."""
        assert self.world.invariant_violations() == []
        groups = self.world.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
        for g in groups:
            assert g["MinSize"] <= g["DesiredCapacity"] <= g["MaxSize"], g["AutoScalingGroupName"]

    def desired(self) -> dict[str, int]:
        groups = self.world.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
        return {g["AutoScalingGroupName"]: g["DesiredCapacity"] for g in groups}

    def writes(self, operation: str) -> int:
        return self.parts.caller.metrics.count(operation, "ok")

    def two_phase(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Drains wait a pass between deactivation and termination, as when Mesos cannot
        be read again after the deactivation (these parts only: `restart` undoes it)."""

        def unreachable() -> list[object]:
            raise MesosError("master unreachable")

        monkeypatch.setattr(self.parts.operator, "agents_only", unreachable)


def world_spec(max_size: int = 10, min_size: int = 0, desired: int = 0) -> WorldSpec:
    return spec_of(
        PoolSpec(
            name="batch", instance_type="m5.xlarge", min=min_size, max=max_size, desired=desired
        )
    )


def spec_of(*pools: PoolSpec) -> WorldSpec:
    """The tests' world (three zones, the test rules, 20 s boots) with these pools."""
    return WorldSpec(
        cluster=CLUSTER,
        zones=ZONES,
        pools=pools,
        settings=AdapterSettings(cluster=CLUSTER, default_rules=RULES),
        boot_delay_s=20,
        gone_delay_s=0,
    )


def realtime_spec(rules: PoolRules, max_size: int) -> WorldSpec:
    """The real-time tests' world: one m5.xlarge pool over three zones, half-second boots,
    the bridge and the allocator ticking fast."""
    return WorldSpec(
        cluster=CLUSTER,
        zones=ZONES,
        pools=(PoolSpec(name="batch", instance_type="m5.xlarge", max=max_size),),
        settings=AdapterSettings(cluster=CLUSTER, default_rules=rules),
        boot_delay_s=0.5,
        bridge_interval_s=0.1,
        allocation_interval_s=0.2,
    )


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def world(clock: VirtualClock) -> Iterator[SimWorld]:
    with SimWorld(world_spec(), clock=clock) as w:
        yield w
