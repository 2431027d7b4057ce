"""Route 2: a class balanced over one attribute is placed from one ranking, replayed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from controlplane.model import Task
from controlplane.planning.helpers.balanced import balanced_picks
from controlplane.planning.helpers.constraints import (
    job_counts_by_value,
    reachable_codes,
    soft_score,
    spanned_codes,
)
from controlplane.planning.table import FloatArray, IntArray
from controlplane.planning.tasks import TaskClass

if TYPE_CHECKING:
    from controlplane.planning.placement.placer import Placer


def fill_balanced(p: Placer, cls: TaskClass, pools: list[int], queue: list[Task]) -> list[Task]:
    """Place a balanced class on existing rows from one ranking (`balanced.py`); the
    tasks left need a new instance (or cannot be placed), as one at a time would find."""
    t = p.table
    rows = np.flatnonzero(p.rows_filter.hard_mask(cls, pools))
    if rows.size == 0 or np.any(p.sign[t.pool_idx[rows]] < 0):
        return queue
    assert cls.job is not None
    (attribute,) = cls.balanced
    reachable = reachable_codes(p.rows_filter, cls, pools, attribute)
    spanned = spanned_codes(t, p.growth, pools, attribute)  # may add codes: before counts
    counts = job_counts_by_value(t, cls.job, attribute)
    soft = soft_score(p.rows_filter, cls, rows) if cls.soft_count else np.zeros(len(rows))

    def scores(pos: IntArray) -> tuple[FloatArray, FloatArray]:
        r = rows[pos]
        fit = p.fitness(r, cls.demand)
        return 1000.0 * t.tier[r] + 2.0 * soft[pos] + fit, fit

    everyone = np.arange(len(rows))
    score, _ = scores(everyone)
    limit = 1 if cls.unique_host or cls.exclusive else len(queue)

    def room_of(pos: IntArray) -> IntArray:
        return p.room_many(cls, rows[pos], limit)

    values = t.attr_codes[attribute][rows]

    def rescore(pos: int) -> float:
        return float(scores(np.array([pos]))[0][0])

    placed = 0
    for pos, candidates in balanced_picks(
        values, score, room_of, counts, reachable, len(queue), rescore, spanned
    ):
        row = int(rows[pos])
        fit = float(scores(np.array([pos]))[1][0])
        why = p.why(cls, row, fit, soft[pos], f"best of {candidates} candidates")
        p.commits.commit(cls, queue[placed : placed + 1], row, why)
        placed += 1
    return queue[placed:]
