"""Balanced classes placed from one ranking instead of one ranking per task.

A class balanced over one attribute (say, zones) is placed a task at a time: each task may
only go to a value that holds the fewest of the job's tasks, among the values it can reach.
Re-scoring every row for every task dominated such a pass at tens of thousands of rows. But
placing a task changes one row only: its free resources (so its own score, and whether it
still fits) and its value's count. So the rows are ranked once, grouped by value in heaps,
and the one-at-a-time choice is replayed over the heads: the same row for each task, in the same
order, as `Placer._best_row` would choose (`tests/test_fast_paths.py` holds it to that).

It applies while only the chosen row's standing changes: bin-packing fitness (a row's
score then only moves with its own fill) and no soft constraint that counts the job.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from controlplane.planning.helpers.ranking import best_of
from controlplane.planning.table import FloatArray, IntArray


def balanced_picks(
    values: IntArray,
    score: FloatArray,
    room_of: Callable[[IntArray], IntArray],
    counts: FloatArray,
    reachable: Iterable[int],
    want: int,
    rescore: Callable[[int], float],
    spanned: Iterable[int] = (),
) -> Iterator[tuple[int, int]]:
    """Up to `want` picks as (candidate position, candidates allowed at that pick).

    `values` and `score` describe the candidate rows (positions in row order: ties go to
    the lower position, as `argmax` does), `room_of(positions)` how many tasks of the class
    each holds (asked only for the rows that can matter); `counts` is the job's tasks per value;
    `reachable` the values a new instance could add, `spanned` every value the pools span
    (the least of them bounds every pick). The caller commits each pick before
    asking for the next: `rescore(pos)` is then the picked row's new score. Stops early
    where no allowed value has a row that fits: the caller then opens an instance, as the
    one-at-a-time path does.
    """
    extra = set(reachable)
    live = values >= 0
    codes, sizes_of = np.unique(values[live], return_counts=True)
    sizes = dict(zip(codes.tolist(), sizes_of.tolist(), strict=True))
    heaps: dict[int, list[tuple[float, int]]] = {}
    left: dict[int, int] = {}
    for value in list(sizes):
        # `want` picks use at most `want` rows of a value: its best ones (rows only rise).
        top = best_of(np.flatnonzero(live & (values == value)), score, want)
        room = room_of(top)
        sizes[value] -= int(np.sum(room <= 0))  # a candidate fits one task: none expected
        heap = [
            (-s, pos)
            for s, pos, r in zip(score[top].tolist(), top.tolist(), room.tolist(), strict=True)
            if r > 0
        ]
        left.update((pos, r) for pos, r in zip(top.tolist(), room.tolist(), strict=True))
        heapq.heapify(heap)
        heaps[value] = heap
    count = {v: float(counts[v]) for v in {*heaps, *extra, *spanned}}
    for _ in range(want):
        domain = [v for v in count if sizes.get(v, 0) > 0 or v in extra]
        if not domain:
            break
        low = min(count.values())
        allowed = [v for v in domain if count[v] == low and sizes.get(v, 0) > 0]
        if not allowed:
            break
        value = min(allowed, key=lambda v: heaps[v][0])
        _, pos = heaps[value][0]
        yield pos, sum(sizes[v] for v in allowed)
        count[value] += 1
        left[pos] -= 1
        heapq.heappop(heaps[value])
        if left[pos] > 0:
            heapq.heappush(heaps[value], (-rescore(pos), pos))
        else:
            sizes[value] -= 1
