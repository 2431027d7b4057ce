"""Join what the adapters observed into one contract snapshot, leaving out what we cannot own.

An agent of a pool AWS does not show, or naming a group that is not the pool's, is not
ours to size: it is left out with the reason (and counted), not guessed into a pool. A
pending task for an unknown pool is left out the same way. What remains must validate as
a contract v1 snapshot; if it does not, the pass stops before acting.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from controlplane.errors import InputError, describe
from controlplane.model import Agent, Floor, Pool, PoolHistory, Snapshot, Task, foreign


class SnapshotError(InputError):
    """The observed world does not make a valid snapshot; nothing is done on it."""


@dataclass(frozen=True)
class Assembly:
    snapshot: Snapshot
    #: Agent id -> why it was left out.
    left_out_agents: dict[str, str] = field(default_factory=dict)
    #: Task id -> why it was left out.
    left_out_tasks: dict[str, str] = field(default_factory=dict)


def assemble(
    now: datetime,
    pools: Sequence[Pool],
    agents: Sequence[Agent],
    pending: Sequence[Task],
    history: Mapping[str, PoolHistory],
    floors: Mapping[str, Floor] | None = None,
    cordoned: Collection[str] = (),
) -> Assembly:
    """The snapshot a pass plans on, and what it left out. `floors` (pool -> the scheduler's
    floor in force now) are set on the pools they name; a floor for an unknown pool is moot.
    `cordoned`: agents consolidation deactivated (a plan may give them back)."""
    floors = floors or {}
    if cordoned:
        agents = [
            a.model_copy(update={"cordoned": True}) if a.id in cordoned else a for a in agents
        ]
    pools = [
        p.model_copy(update={"floor": floors[p.name]}) if p.name in floors else p for p in pools
    ]
    by_pool = {p.name: p for p in pools}
    families = {p.family for p in pools if p.family is not None}
    kept: list[Agent] = []
    left_agents: dict[str, str] = {}
    for agent in _in_own_pools(agents, pools):
        why = foreign(agent, by_pool)
        if why is None:
            kept.append(agent)
        else:
            left_agents[agent.id] = why
    tasks: list[Task] = []
    left_tasks: dict[str, str] = {}
    for task in pending:
        if task.pool is not None and task.pool not in by_pool and task.pool not in families:
            left_tasks[task.id] = f"pool {task.pool!r} has no discovered group"
        else:
            tasks.append(task)
    try:
        snapshot = Snapshot(
            version=1,
            now=now,
            pools=list(pools),
            agents=kept,
            pending=tasks,
            history={k: v for k, v in history.items() if k in by_pool},
        )
    except ValidationError as error:
        raise SnapshotError(f"observed world is not a valid snapshot: {describe(error)}") from None
    return Assembly(snapshot, left_agents, left_tasks)


def _in_own_pools(agents: Sequence[Agent], pools: Sequence[Pool]) -> list[Agent]:
    """Agents that name a family (the operators' pool) moved to the family's pool that holds
    their group: the one of their instance type."""
    owner: dict[tuple[str, str | None], str] = {
        (p.family, g.asg): p.name for p in pools if p.family is not None for g in p.groups
    }
    if not owner:
        return list(agents)
    return [
        a.model_copy(update={"pool": owner[(a.pool, a.asg)]}) if (a.pool, a.asg) in owner else a
        for a in agents
    ]
