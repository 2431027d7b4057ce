"""Committing placements: the table's free resources and counts, and the Placement records.

Kept apart from the choosing (`placement.py`): a commit is bookkeeping, and at 50,000 tasks
its per-task cost is most of a backlog pass, so it is done a row, or a whole shortfall
packing, at a time. Every path subtracts one task's demand at a time, in task order: the
floats are those of one-at-a-time placement, so fast and slow paths agree to the bit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from controlplane.model import NewInstance, Placement, Task
from controlplane.planning.growth import PoolGrowth
from controlplane.planning.table import CandidateTable, Slot
from controlplane.planning.tasks import TaskClass

# model_construct: these values are the planner's own, already valid; validating 50,000
# placements again cost a tenth of a backlog pass.
_placement = Placement.model_construct
_new_instance = NewInstance.model_construct


@dataclass
class Commits:
    table: CandidateTable
    growth: list[PoolGrowth]
    placements: list[Placement]

    def commit(self, cls: TaskClass, tasks: list[Task], row: int, why: str) -> None:
        """Put `tasks` (of one class) on `row`: one reason and one target for all of them."""
        t = self.table
        free = t.free[row]
        for _ in tasks:
            # Not floored at 0: free may dip below 0 by the fit slack (EPS), and must stay
            # there, or the slack would be granted again to every next tiny task.
            free -= cls.demand
        t.placed[row] += len(tasks)
        if cls.exclusive:
            t.exclusive[row] = True
        if cls.unique_host:
            assert cls.job is not None
            t.job_closed[cls.job][row] = True
        self._count_jobs(tasks, [row] * len(tasks))
        label = t.labels[row]
        if isinstance(label, Slot):
            if not label.launching:
                self._shortfall(row, label.zone, len(tasks))
            new, reason = self._target(label, why)
            self.placements.extend(
                _placement(task=task.id, agent=None, new=new, reason=reason) for task in tasks
            )
        else:
            self.placements.extend(
                _placement(task=task.id, agent=label, new=None, reason=why) for task in tasks
            )

    def commit_packed(
        self,
        items: list[tuple[TaskClass, Task]],
        bins: list[list[int]],
        rows: list[int],
        whys: list[str],
    ) -> None:
        """Commit a shortfall packing: `bins[b]` (item indices) go on new row `rows[b]`.

        Only plain tasks are packed (no exclusive or unique-host bookkeeping). Rows are
        distinct, and `np.subtract.at` subtracts in index order: per row, the same floats
        as committing the items one by one.
        """
        t = self.table
        order = [i for members in bins for i in members]
        if not order:
            return
        row_of = np.repeat(np.asarray(rows, dtype=np.int64), [len(m) for m in bins])
        demand = np.stack([items[i][0].demand for i in order])
        np.subtract.at(t.free, row_of, demand)
        np.add.at(t.placed, row_of, 1)
        tasks = [items[i][1] for i in order]
        self._count_jobs(tasks, row_of.tolist())
        for b, members in enumerate(bins):
            if not members:
                continue
            row = rows[b]
            label = t.labels[row]
            assert isinstance(label, Slot) and not label.launching
            self._shortfall(row, label.zone, len(members))
            new, reason = self._target(label, whys[b])
            self.placements.extend(
                _placement(task=items[i][1].id, agent=None, new=new, reason=reason) for i in members
            )

    def _count_jobs(self, tasks: list[Task], rows: list[int]) -> None:
        counts = self.table.job_counts
        if not counts:
            return
        tally = Counter(
            (task.job_name, row)
            for task, row in zip(tasks, rows, strict=True)
            if task.job_name in counts
        )
        for (job, row), k in tally.items():
            counts[job][row] += k

    def _shortfall(self, row: int, zone: str, k: int) -> None:
        pool = self.growth[self.table.pool_idx[row]]
        pool.shortfall_tasks[zone] = pool.shortfall_tasks.get(zone, 0) + k

    @staticmethod
    def _target(label: Slot, why: str) -> tuple[NewInstance, str]:
        kind = "launching" if label.launching else "new"
        new = _new_instance(pool=label.pool, zone=label.zone, index=label.index)
        return new, f"{kind} {label.pool} instance {label.index} in {label.zone}; {why}"
