"""Seeded fault runs: AWS throttling and 5xx, the Mesos leader moving away, the daemon killed
between steps, tasks landing on agents at random. After every step: no instance was lost
with a task on it, no group left its bounds. After the faults stop: the fleet converges."""

from __future__ import annotations

import random
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from controlplane.sim.clock import VirtualClock
from controlplane.sim.mesos_master import MesosMasterEmulator
from controlplane.sim.mesos_master.state import SimTask
from controlplane.sim.world import SimWorld
from tests.aws.conftest import _Body, inject, server_error_reply, throttle_reply
from tests.control.conftest import ListDemand, Loop, tasks

FAULTY = (
    ("DescribeAutoScalingGroups", throttle_reply),
    ("SetDesiredCapacity", throttle_reply),
    ("SetDesiredCapacity", server_error_reply),
    ("TerminateInstanceInAutoScalingGroup", throttle_reply),
    ("TerminateInstanceInAutoScalingGroup", server_error_reply),
    ("SetInstanceProtection", throttle_reply),
)


def _faults(loop: Loop, rng: random.Random) -> list[list[bool]]:
    """Inject faults into this process's clients; the draws say which calls were hit."""
    client: Any = loop.parts.reconciler.aws.autoscaling
    draws = [inject(client, op, 0.25, rng.randrange(1 << 30), reply) for op, reply in FAULTY]
    seed = rng.randrange(1 << 30)
    draws.append(inject(loop.parts.store.dynamodb, "TransactWriteItems", 0.2, seed, _json_throttle))
    return draws


def _json_throttle() -> AWSResponse:
    """DynamoDB speaks JSON: its throttling reply."""
    body = b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow"}'
    return AWSResponse("https://throttle", 400, HTTPHeaders(), _Body(body))


def _land_task(world: SimWorld, rng: random.Random, n: int) -> None:
    """A task the framework launched: on any registered agent with room, for a while."""
    core = world.core
    with core.lock:
        roomy = [
            a for a in core.agents.values() if a.total["cpus"] - a.allocated().get("cpus", 0) >= 1
        ]
        if not roomy:
            return
        agent = rng.choice(sorted(roomy, key=lambda a: a.id))
        ends = core.now() + rng.uniform(10, 200)
        task = SimTask(f"r{n}", f"r{n}", "fw-test", agent.id, {"cpus": 1.0}, {}, core.now(), ends)
        core.launch(agent, task)


@pytest.mark.parametrize("seed", [3, 11, 29])
def test_seeded_faults_never_lose_a_busy_instance(
    world: SimWorld, clock: VirtualClock, seed: int
) -> None:
    rng = random.Random(seed)
    demand = ListDemand()
    # Two masters share one state: the leader moves between them (307 to the other).
    masters = [world.emulator, MesosMasterEmulator(world.core).start()]
    masters[1].become_standby(masters[0].address)
    aws = {
        "region": world.region,
        "endpoint_url": world.moto_url,
        "state_table": "cp-state",
        "discovery_ttl_s": 1,
        "launch_deadline_s": 120,
    }
    mesos = {"masters": [m.address for m in masters], "attempts": 2, "timeout_s": 5}
    loop = Loop(world, clock, demand, changes={"aws": aws, "mesos": mesos})
    try:
        _run(loop, world, masters, demand, rng)
    finally:
        masters[1].stop()


def _run(
    loop: Loop,
    world: SimWorld,
    masters: list[MesosMasterEmulator],
    demand: ListDemand,
    rng: random.Random,
) -> None:
    loop.parts.caller.max_attempts = 3
    draws = _faults(loop, rng)
    outcomes: dict[str, int] = {}
    peak = 0
    for n in range(40):
        roll = rng.random()
        if roll < 0.15:
            count, cpus = rng.randrange(0, 10), rng.choice([1.0, 2.0, 3.0])
            demand.tasks = tasks(count, cpus=cpus, prefix=f"g{n}-")
        elif roll < 0.2:
            leader = next(m for m in masters if m.is_leader)  # no leader for a step
            leader.become_standby(None)
        elif roll < 0.25:
            old, new = (masters[0], masters[1]) if masters[0].is_leader else masters[::-1]
            old.become_standby(new.address)  # the leader moves to the other master
            new.become_leader()
        elif roll < 0.35:
            loop.restart()  # killed between steps: only the table survives
            draws += _faults(loop, rng)
        elif roll < 0.6:
            _land_task(world, rng, n)
        result = loop.step(rng.choice([5.0, 20.0, 45.0, 90.0]))
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        peak = max(peak, sum(loop.desired().values()))
        if not any(m.is_leader for m in masters):
            masters[0].become_leader()
            masters[1].become_standby(masters[0].address)
    assert outcomes.get("ok", 0) > 10, outcomes
    assert sum(sum(d) for d in draws) > 10  # the faults did bite
    assert peak >= 3  # the fleet grew, so the drain below terminates real instances

    # Faults stop, demand ends, tasks finish: the fleet drains to its minimum.
    demand.tasks = []
    loop.restart()
    for _ in range(30):
        loop.step(60.0)
    assert sum(loop.desired().values()) == 0, loop.desired()
    assert loop.parts.store.load().intents == {}
