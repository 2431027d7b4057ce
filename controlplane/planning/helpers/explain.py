"""Reasons a person can check for a task the planner could not place."""

from __future__ import annotations

import numpy as np

from controlplane.model import Snapshot
from controlplane.numbers import num
from controlplane.planning.growth import PoolGrowth
from controlplane.planning.helpers.constraints import starved_values
from controlplane.planning.table import (
    EPS,
    HYPOTHETICAL,
    REAL,
    CandidateTable,
    instance_attributes,
)
from controlplane.planning.tasks import TaskClass


def _amounts(table: CandidateTable, demand: np.ndarray) -> str:
    return ", ".join(
        f"{num(d)} {name}" for name, d in zip(table.dims, demand, strict=True) if d > 0
    )


def _too_big(snapshot: Snapshot, table: CandidateTable, cls: TaskClass, pools: list[int]) -> str:
    """The reason when no instance of any eligible pool could ever hold the task."""
    names = list(table.dims)
    caps = np.array(
        [[snapshot.pools[p].capacity.get(n, 0.0) for n in names] for p in pools], dtype=float
    )
    largest = caps.max(axis=0)
    where = f"pool {cls.pool} instance" if cls.pool else "largest pool instance"
    over = [i for i, d in enumerate(cls.demand) if d > largest[i] * (1 + EPS)]
    if over:
        i = max(over, key=lambda k: (cls.demand[k] / max(largest[k], 1e-12), -k))
        return f"needs {num(cls.demand[i])} {names[i]}; {where} has {num(largest[i])}"
    return f"needs {_amounts(table, cls.demand)} together; no pool instance holds all of it"


def cannot_place(
    snapshot: Snapshot,
    table: CandidateTable,
    growth: list[PoolGrowth],
    cls: TaskClass,
    pools: list[int],
) -> str:
    """Why no registered agent, launching instance or new instance can take the task."""
    if not pools:
        return "the snapshot has no pools: nothing can hold it"
    fitting = [
        p
        for p in pools
        if all(
            d <= snapshot.pools[p].capacity.get(name, 0.0) * (1 + EPS)
            for name, d in zip(table.dims, cls.demand, strict=True)
        )
    ]
    n = table.n
    active = (table.tier[:n] == REAL) & table.usable[:n] & np.isin(table.pool_idx[:n], pools)
    if not fitting:
        reason = _too_big(snapshot, table, cls, pools)
        if not active.any() or np.any(cls.demand > table.total[:n][active].max(axis=0) * (1 + EPS)):
            return reason
    asks = _amounts(table, cls.demand) or "it"
    parts = [f"none of {int(active.sum())} active agents in its pools may take {asks}"]
    hypothetical = (table.tier[:n] == HYPOTHETICAL) & np.isin(table.pool_idx[:n], pools)
    if hypothetical.any():
        parts.append(f"nor any of {int(hypothetical.sum())} launching or new instances")
    for name, value in cls.hard_attrs:
        if not np.any(active & (table.attr_codes[name][:n] == table.code(name, value))):
            parts.append(f"no active agent has {name}={value}")
    if cls.unique_host:
        parts.append(f"unique_host: one task of job {cls.job} per agent")
    elif cls.job is not None and cls.job in table.job_closed:
        held = int(np.sum(active & table.job_closed[cls.job][:n]))
        if held:
            parts.append(f"{held} of them hold a unique_host task of job {cls.job}")
    if cls.exclusive:
        parts.append("exclusive: needs an agent with no other task")
    for p in fitting:
        g = growth[p]
        pool = g.pool
        open_zones = g.openable()
        if not open_zones:
            parts.append(g.blocked())
            continue
        missing = [
            f"{name}={value}"
            for name, value in cls.hard_attrs
            if not any(instance_attributes(pool, z).get(name) == value for z in open_zones)
        ]
        if missing:
            parts.append(f"pool {pool.name}: new instances lack {', '.join(missing)}")
        elif cls.balanced:
            parts.append(
                f"pool {pool.name}: balanced {', '.join(cls.balanced)} for job {cls.job} "
                f"needs the least-used value, which cannot grow"
            )
    if cls.balanced:
        least = "; ".join(starved_values(table, growth, cls, pools))
        parts.append(f"hard balanced: the next task must go to {least}, which can take no more")
    if not fitting:
        parts.append(_too_big(snapshot, table, cls, pools))
    return "; ".join(parts)
