"""Route 1: a batchable (or one-per-row) class fills existing rows best-first in one pass."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from controlplane.model import Task
from controlplane.planning.helpers.ranking import best_of
from controlplane.planning.tasks import TaskClass

if TYPE_CHECKING:
    from controlplane.planning.placement.placer import Placer


def fill_ranked(
    p: Placer, cls: TaskClass, pools: list[int], queue: list[Task]
) -> tuple[list[Task], bool]:
    """Fill existing rows best-first, each to capacity, in one vector pass.

    For a batchable class on bin-packing pools this is exactly the one-task-at-a-time
    result: placing on the best row only raises its own score, so it stays best until
    full, and the other rows keep their scores and order. Returns the tasks left and
    whether every existing row is now full for the class. A `one_per_row` class gives
    each row at most one task: the row it lands on is closed to the class, the others
    keep their scores, so this too is the one-task-at-a-time result.
    """
    ranked = p.ranked(cls, pools)
    if ranked is None:
        return queue, True
    rows, score, fit, soft = ranked
    if not cls.one_per_row and np.any(p.sign[p.table.pool_idx[rows]] < 0):
        return queue, False  # spread lowers the chosen row's score: go task by task
    limit = 1 if cls.one_per_row else len(queue)
    # Each candidate fits one task: the best len(queue) rows hold the whole queue.
    order = best_of(np.arange(rows.size), score, len(queue))
    room = p.room_many(cls, rows[order], limit)
    if room.sum() < len(queue) and order.size < rows.size:  # room 0 at a float edge
        order = np.lexsort((rows, -score))
        room = p.room_many(cls, rows[order], limit)
    last = int(np.searchsorted(np.cumsum(room), len(queue)))
    placed = 0
    for rank, k in enumerate(order[: last + 1].tolist()):
        row = int(rows[k])
        take = min(int(room[rank]), len(queue) - placed)
        why = p.why(cls, row, fit[k], soft[k], f"rank {rank + 1} of {rows.size} candidates")
        p.commits.commit(cls, queue[placed : placed + take], row, why)
        placed += take
    return queue[placed:], placed < len(queue)
