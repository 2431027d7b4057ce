"""Vector bin packing of the shortfall: the fewest new instances that hold a set of tasks.

This is where an instance is at stake, so it is worth milliseconds. Items are task demand
vectors normalised by the instance's capacity (a bin is all ones). Several constructive
heuristics run (item-centric first-fit-decreasing by different size measures, and
bin-centric dot-product / L2-norm packing, after Panigrahy et al., "Heuristics for Vector
Bin Packing", 2011); the fewest bins wins, ties to the first listed. Then a bounded local
search tries to empty one more bin at a time (see `improve.py`), stopping at the lower
bound. The budget is counted in moves, never in clock time, so a plan stays reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controlplane.planning.helpers.improve import improve
from controlplane.planning.helpers.rowwise import all_at_least, all_at_most, row_min

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Slack on the normalised capacity so that sizes adding up to exactly 1 fit.
FIT_EPS = 1e-9

#: Local-search budget. A move costs time in proportion to the items, so the budget is
#: item-moves (WORK), at most MOVES moves: up to 150 items get all 600 moves (one bin is a
#: large share there), 500 items get 180. Calibrated with `python -m bench` on the
#: Panigrahy classes (gap and time per instance: the README's measured section).
MOVES = 600
WORK = 90_000


def moves_for(items: int) -> int:
    return min(MOVES, WORK // max(items, 1))


#: Above this many items, pack by shape (identical items together) with first-fit-decreasing:
#: the item-by-item heuristics cost O(items^2) and a backlog can hold tens of thousands.
ITEM_LIMIT = 1000


@dataclass(frozen=True)
class Packing:
    """Bins as an item -> bin index array (numbered 0..count-1 in opening order: fullest
    first, then settled so that no item fits a bin before its own)."""

    bin_of: IntArray
    count: int
    lower_bound: int
    method: str


def lower_bound(sizes: FloatArray) -> int:
    """A bound no packing beats: total volume per dimension, and items that cannot share.

    Two items both larger than half a bin in the same dimension never share a bin.
    """
    if sizes.shape[0] == 0:
        return 0
    volume = int(np.ceil(np.max(sizes.sum(axis=0)) - 1e-7))
    big = int(np.max((sizes > 0.5 + FIT_EPS).sum(axis=0)))
    return max(volume, big, 1)


def first_fit(sizes: FloatArray, order: IntArray) -> IntArray:
    """Item-centric first fit: each item (in `order`) into the first bin it fits."""
    n, d = sizes.shape
    residual = np.empty((n, d))
    bin_of = np.empty(n, dtype=np.int64)
    nb = 0
    for i in order.tolist():
        s = sizes[i]
        if nb:
            ok = all_at_least(residual[:nb], s - FIT_EPS)
            b = int(ok.argmax())
            if not ok[b]:
                b = nb
        else:
            b = 0
        if b == nb:
            residual[nb] = 1.0
            nb += 1
        residual[b] -= s
        bin_of[i] = b
    return bin_of


def bin_centric(
    sizes: FloatArray, score: Callable[[FloatArray, FloatArray], FloatArray]
) -> IntArray:
    """Bin-centric packing: fill one bin at a time with the fitting item that scores best.

    A bin's residual only shrinks while it fills, so an item that does not fit now never
    will in this bin: each step looks only at the survivors of the last one.
    """
    n = sizes.shape[0]
    bin_of = np.full(n, -1, dtype=np.int64)
    left = np.arange(n)
    b = 0
    while left.size:
        residual = np.ones(sizes.shape[1])
        # Every item fits an empty bin (sizes are at most 1): no filter before the first.
        cand, sub = left, sizes[left]
        while True:
            k = int(np.argmax(score(sub, residual)))
            bin_of[cand[k]] = b
            residual = residual - sub[k]
            cand = np.concatenate((cand[:k], cand[k + 1 :]))
            sub = np.concatenate((sub[:k], sub[k + 1 :]))
            fit = all_at_most(sub, residual + FIT_EPS)
            cand, sub = cand[fit], sub[fit]
            if not cand.size:
                break
        left = np.flatnonzero(bin_of < 0)
        b += 1
    return bin_of


def _dot_product(weights: FloatArray) -> Callable[[FloatArray, FloatArray], FloatArray]:
    def score(sizes: FloatArray, residual: FloatArray) -> FloatArray:
        out: FloatArray = sizes @ (weights * residual)
        return out

    return score


def _l2_norm(weights: FloatArray) -> Callable[[FloatArray, FloatArray], FloatArray]:
    def score(sizes: FloatArray, residual: FloatArray) -> FloatArray:
        gap = residual - sizes
        out: FloatArray = -(gap * gap) @ weights
        return out

    return score


def _decreasing(key: FloatArray) -> IntArray:
    """Indices by decreasing key, ties by index (stable, so deterministic)."""
    out: IntArray = np.argsort(-key, kind="stable")
    return out


def constructions(sizes: FloatArray) -> list[tuple[str, Callable[[], IntArray]]]:
    """The constructive heuristics, in tie-break order."""
    avg = sizes.mean(axis=0)
    weights = avg / avg.sum() if avg.sum() > 0 else np.ones(sizes.shape[1])
    return [
        ("dot-product", lambda: bin_centric(sizes, _dot_product(weights))),
        ("ffd-avg-sum", lambda: first_fit(sizes, _decreasing(sizes @ weights))),
        ("ffd-max", lambda: first_fit(sizes, _decreasing(sizes.max(axis=1)))),
        ("l2-norm", lambda: bin_centric(sizes, _l2_norm(weights))),
    ]


def pack(sizes: FloatArray, moves: int | None = None, seed: int = 0) -> Packing:
    """Pack items (rows of `sizes`, each at most 1 in every dimension) into fewest bins.

    `moves`: the local search's budget (default `moves_for(items)`)."""
    n = sizes.shape[0]
    if moves is None:
        moves = moves_for(n)
    bound = lower_bound(sizes)
    if n == 0:
        return Packing(np.zeros(0, dtype=np.int64), 0, 0, "none")
    if n > ITEM_LIMIT:
        bin_of = first_fit_by_shape(sizes)
        count = int(bin_of.max()) + 1
        return Packing(_fullest_first(sizes, bin_of, count), count, bound, "ffd-avg-sum by shape")
    best: tuple[int, str, IntArray] | None = None
    for name, build in constructions(sizes):
        bin_of = build()
        count = int(bin_of.max()) + 1
        if best is None or count < best[0]:
            best = (count, name, bin_of)
        if count == bound:
            break
    assert best is not None
    count, method, bin_of = best
    if count > bound and moves > 0:
        improved = improve(sizes, bin_of, bound, moves, seed)
        if int(improved.max()) + 1 < count:
            bin_of, count = improved, int(improved.max()) + 1
            method += " + local search"
    bin_of, count = _settled(sizes, _fullest_first(sizes, bin_of, count), count)
    return Packing(bin_of, count, bound, method)


def _settled(sizes: FloatArray, bin_of: IntArray, count: int) -> tuple[IntArray, int]:
    """Each item of a later bin moved into the first earlier bin that holds it once full;
    bins left empty dropped, the order kept.

    Bins are opened in order, and rule 5 holds a task to that: a task opens bin b only if
    none of the bins before it can take it. A heuristic's bins need not be so (a bin-centric
    construction may close a bin that a later one's item fits). Moving such an item costs
    nothing and may empty a bin. An item checked against the bins before its own is never
    given room later (those bins only fill up), so one pass settles every item. (The order is
    fullest first before settling; a middle bin may end up fuller than the first.)"""
    residual = np.ones((count, sizes.shape[1]))
    np.subtract.at(residual, bin_of, sizes)
    out = bin_of.copy()
    for b in range(1, count):
        for i in np.flatnonzero(out == b).tolist():
            room = np.flatnonzero(all_at_least(residual[:b] + FIT_EPS, sizes[i]))
            if room.size:
                residual[room[0]] -= sizes[i]
                residual[b] += sizes[i]
                out[i] = room[0]
    used, renumbered = np.unique(out, return_inverse=True)
    settled: IntArray = renumbered.reshape(-1).astype(np.int64)
    return settled, len(used)


def first_fit_by_shape(sizes: FloatArray) -> IntArray:
    """First-fit-decreasing (by average-weighted size) with identical items placed together.

    First fit puts copies of one shape into the earliest bins with room, each filled to its
    room, then opens bins of `per_bin` copies: that is one vector step per shape, the same
    packing as item-by-item first fit, at a cost of shapes x bins instead of items x bins.
    """
    shapes, inverse, counts = np.unique(sizes, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    avg = sizes.mean(axis=0)
    weights = avg / avg.sum() if avg.sum() > 0 else np.ones(sizes.shape[1])
    residual = np.ones((len(sizes), sizes.shape[1]))
    nb = 0
    bins_of_shape: list[IntArray] = [np.zeros(0, dtype=np.int64)] * len(shapes)
    for c in _decreasing(shapes @ weights).tolist():
        s, q = shapes[c], int(counts[c])
        pos = s > 0
        if not pos.any():  # takes nothing: rides in the first bin
            nb = max(nb, 1)
            bins_of_shape[c] = np.zeros(q, dtype=np.int64)
            continue
        room = np.floor(row_min((residual[:nb, pos] + FIT_EPS) / s[pos])).clip(0)
        take = np.minimum(room, np.maximum(q - (np.cumsum(room) - room), 0)).astype(np.int64)
        residual[:nb] -= take[:, None] * s
        rest = q - int(take.sum())
        per_bin = max(1, int(np.floor(np.min((1.0 + FIT_EPS) / s[pos]))))
        fresh = -(-rest // per_bin)
        fresh_take = np.full(fresh, per_bin, dtype=np.int64)
        if fresh:
            fresh_take[-1] = rest - per_bin * (fresh - 1)
        residual[nb : nb + fresh] = 1.0 - fresh_take[:, None] * s
        bins = np.concatenate([np.arange(nb), np.arange(nb, nb + fresh)])
        bins_of_shape[c] = np.repeat(bins, np.concatenate([take, fresh_take]))
        nb += fresh
    bin_of = np.empty(len(sizes), dtype=np.int64)
    order = np.argsort(inverse, kind="stable")
    bin_of[order] = np.concatenate(bins_of_shape)
    return bin_of


def _fullest_first(sizes: FloatArray, bin_of: IntArray, count: int) -> IntArray:
    """Renumber bins by decreasing load (ties by old number), so bin 0 is the fullest."""
    load = np.zeros(count)
    np.add.at(load, bin_of, sizes.sum(axis=1))
    order = np.lexsort((np.arange(count), -load))
    rank = np.empty(count, dtype=np.int64)
    rank[order] = np.arange(count)
    out: IntArray = rank[bin_of]
    return out
