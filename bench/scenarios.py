"""Synthetic cluster snapshots for timing the planner (deterministic, seeded)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from controlplane.model import (
    Agent,
    BalancedConstraint,
    Constraint,
    ExclusiveConstraint,
    Group,
    Pool,
    Snapshot,
    Task,
    UniqueHostConstraint,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def fenzo(
    agents: int = 10_000, tasks: int = 200, seed: int = 7, constraint: str | None = None
) -> Snapshot:
    """Fenzo's published setup: 8-cpu hosts partly filled; tasks 20% 1-cpu, 40% half-host,
    the rest three-quarter-host. `constraint` ("unique_host", "exclusive" or "balanced")
    gives every task that hard constraint (balanced: over zones), so constrained placement
    paths can be timed on the same cluster."""
    rng = np.random.default_rng(seed)
    pool = Pool(
        name="fenzo",
        instance_type="m5.2xlarge",
        capacity={"cpus": 8, "mem": 32000, "network": 1000},
        groups=[Group(asg=f"fenzo-{z}", zone=z, min=0, max=agents, desired=0) for z in ZONES],
        max_idle=agents,
    )
    per_zone = {z: 0 for z in ZONES}
    agent_list = []
    for i in range(agents):
        zone = ZONES[i % 3]
        per_zone[zone] += 1
        used = int(rng.integers(0, 8))
        agent_list.append(
            Agent(
                id=f"A-{i:05d}",
                pool="fenzo",
                asg=f"fenzo-{zone}",
                zone=zone,
                total={"cpus": 8, "mem": 32000, "network": 1000},
                used={"cpus": used, "mem": used * 4000, "network": used * 100},
                tasks=used,
                jobs={"filler": used},
                idle_since=None if used else NOW,
            )
        )
    pool = pool.model_copy(
        update={
            "groups": [
                Group(asg=f"fenzo-{z}", zone=z, min=0, max=agents, desired=per_zone[z])
                for z in ZONES
            ]
        }
    )
    shapes = rng.choice([1, 4, 6], size=tasks, p=[0.2, 0.4, 0.4])
    pending = [
        Task(
            id=f"t{i:06d}",
            job=f"j{i % 50}",
            resources={"cpus": float(c), "mem": float(c) * 4000, "network": float(c) * 100},
            constraints=_constraints(constraint),
        )
        for i, c in enumerate(shapes)
    ]
    return Snapshot(version=1, now=NOW, pools=[pool], agents=agent_list, pending=pending)


def _constraints(kind: str | None) -> list[Constraint]:
    if kind is None:
        return []
    if kind == "unique_host":
        return [UniqueHostConstraint(kind="unique_host")]
    if kind == "exclusive":
        return [ExclusiveConstraint(kind="exclusive")]
    if kind == "balanced":
        return [BalancedConstraint(kind="balanced", attribute="zone")]
    raise ValueError(f"unknown constraint {kind!r}: unique_host, exclusive or balanced")
