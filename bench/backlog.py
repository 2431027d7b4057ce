"""The full-backlog scenario: 50,000 pending tasks of mixed shapes on 10,000 agents.

Four pools (different instance shapes and prices) over three zones, agents partly busy,
tasks in a dozen shapes, some of them constrained (unique_host, balanced over zones), more
than the agents hold, so the plan also sizes the scale-up. `python -m bench.backlog` times
one plan and prints its peak RSS (run it in a fresh process for a clean RSS figure).
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np

from bench.scenarios import NOW, ZONES
from controlplane.model import (
    Agent,
    BalancedConstraint,
    Constraint,
    Group,
    Pool,
    Snapshot,
    Task,
    UniqueHostConstraint,
)
from controlplane.planning import plan

POOLS: dict[str, tuple[float, float, float]] = {  # name: (cpus, mem MiB, hourly price)
    "general": (16, 64_000, 0.768),
    "compute": (32, 64_000, 1.36),
    "memory": (16, 128_000, 1.008),
    "small": (4, 16_000, 0.192),
}
SHAPES: list[tuple[float, float]] = [
    (0.5, 1_000),
    (1, 2_000),
    (1, 4_000),
    (2, 4_000),
    (2, 8_000),
    (4, 8_000),
    (4, 16_000),
    (8, 16_000),
    (8, 32_000),
    (1, 16_000),
    (2, 30_000),
    (12, 24_000),
]


def backlog(agents: int = 10_000, tasks: int = 50_000, seed: int = 11) -> Snapshot:
    rng = np.random.default_rng(seed)
    names = sorted(POOLS)
    agent_list = []
    per_group: dict[str, int] = {}
    for i in range(agents):
        pool = names[i % len(names)]
        zone = ZONES[(i // len(names)) % len(ZONES)]
        cpus, mem, _ = POOLS[pool]
        share = float(rng.choice([0.0, 0.25, 0.5, 0.9]))
        asg = f"{pool}-{zone}"
        per_group[asg] = per_group.get(asg, 0) + 1
        busy = share > 0
        agent_list.append(
            Agent(
                id=f"A-{i:05d}",
                pool=pool,
                asg=asg,
                zone=zone,
                total={"cpus": cpus, "mem": mem},
                used={"cpus": cpus * share, "mem": mem * share},
                tasks=int(busy),
                jobs={"running": 1} if busy else {},
                idle_since=None if busy else NOW,
            )
        )
    pools = [
        Pool(
            name=name,
            instance_type=name,
            capacity={"cpus": POOLS[name][0], "mem": POOLS[name][1]},
            hourly_price=POOLS[name][2],
            max_idle=agents,
            groups=[
                Group(
                    asg=f"{name}-{z}",
                    zone=z,
                    min=0,
                    max=100_000,
                    desired=per_group.get(f"{name}-{z}", 0),
                )
                for z in ZONES
            ],
        )
        for name in names
    ]
    shape_of = rng.integers(0, len(SHAPES), size=tasks)
    kind = rng.random(tasks)
    pending = []
    for i in range(tasks):
        cpus, mem = SHAPES[int(shape_of[i])]
        cons: list[Constraint] = []
        job = f"batch-{i % 200}"
        if kind[i] < 0.02:
            cons, job = [UniqueHostConstraint(kind="unique_host")], f"uh-{i % 40}"
        elif kind[i] < 0.04:
            cons, job = [BalancedConstraint(kind="balanced", attribute="zone")], f"bal-{i % 40}"
        pending.append(
            Task(id=f"t{i:06d}", job=job, resources={"cpus": cpus, "mem": mem}, constraints=cons)
        )
    return Snapshot(version=1, now=NOW, pools=pools, agents=agent_list, pending=pending)


def main() -> None:
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    agents = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    snap = backlog(agents=agents, tasks=tasks)
    t0 = time.perf_counter()
    result = plan(snap)
    seconds = time.perf_counter() - t0
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s = result.summary
    print(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "peak_rss_mib": round(rss_mib, 1),
                "placed": s.placed,
                "on_new": s.placed_on_new,
                "unplaced": s.unplaced,
                "new_instances": s.new_instances,
                "lower_bound": s.lower_bound,
                "agents_needed": s.agents_needed,
            }
        )
    )


if __name__ == "__main__":
    main()
