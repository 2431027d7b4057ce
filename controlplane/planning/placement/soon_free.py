"""Duration-aware scale-up: a task waits for an agent about to empty instead of buying one.

An instance opened now serves after its pool's `boot_s`. An agent whose running tasks are
all expected to have ended before then (`expected_empty_at`, not yet overdue) holds the
task sooner and for nothing, so the task is left unplaced with where and when it fits,
and no instance is opened for it. Each such agent's room once empty (its total, less what
this plan places on it) is counted down as tasks are assigned to it, soonest agent first.

Only unconstrained tasks that no row holds now come here (the shortfall route); an agent
whose estimate has passed is not waited for again, so a wrong estimate costs at most one
boot time of waiting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from controlplane.model import Hold, Task, Unplaced
from controlplane.numbers import num
from controlplane.planning.table import EPS, CandidateTable, FloatArray, vector
from controlplane.planning.tasks import TaskClass


@dataclass
class SoonFree:
    """Agents that will be empty before a new instance of their pool could serve."""

    table: CandidateTable
    now_s: float
    #: row -> seconds until empty; row -> room once empty.
    wait_s: dict[int, float] = field(default_factory=dict)
    room: dict[int, FloatArray] = field(default_factory=dict)
    #: pool name -> (tasks held, the first one's story).
    held: dict[str, tuple[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = self.table
        if all(p.boot_s is None for p in t.pools):
            return  # nothing to wait for: no pool knows its boot time
        for row, agent in enumerate(t.agents):
            pool = t.pools[int(t.pool_idx[row])]
            if agent.expected_empty_at is None or pool.boot_s is None or not t.usable[row]:
                continue
            wait = agent.expected_empty_at.timestamp() - self.now_s
            if 0 <= wait < pool.boot_s:
                self.wait_s[row] = wait
                self.room[row] = t.free[row] + vector(t.dims, agent.used)

    def absorb(
        self, cls: TaskClass, tasks: list[Task], pools: list[int], out: list[Unplaced]
    ) -> list[Task]:
        """Tasks of the class left needing a new instance; the others wait (in `out`)."""
        if not self.wait_s or not tasks:
            return tasks
        rows = sorted(
            (r for r in self.wait_s if int(self.table.pool_idx[r]) in pools),
            key=lambda r: (self.wait_s[r], r),
        )
        left: list[Task] = []
        for task in tasks:
            row = next((r for r in rows if _fits(self.room[r], cls.demand, self.table, r)), None)
            if row is None:
                left.append(task)
                continue
            self.room[row] = self.room[row] - cls.demand
            pool = self.table.pools[int(self.table.pool_idx[row])]
            story = (
                f"fits on {self.table.agents[row].id} in ~{num(round(self.wait_s[row]))}s, "
                f"a new {pool.instance_type} boots in ~{num(round(pool.boot_s or 0))}s"
            )
            out.append(Unplaced(task=task.id, reason=f"waits: {story}"))
            count, first = self.held.get(pool.name, (0, story))
            self.held[pool.name] = (count + 1, first)
        return left

    def holds(self) -> list[Hold]:
        return [
            Hold(
                pool=pool,
                reason=f"{count} task{'s wait' if count != 1 else ' waits'} for agents about "
                f"to empty instead of new instances ({first})",
            )
            for pool, (count, first) in sorted(self.held.items())
        ]


def _fits(room: FloatArray, demand: FloatArray, table: CandidateTable, row: int) -> bool:
    slack = EPS * np.maximum(table.total[row], 1.0)
    return bool(np.all(room + slack >= demand))
