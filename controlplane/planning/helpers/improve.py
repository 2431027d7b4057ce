"""Local search that empties one bin at a time (the shortfall packing's improvement step).

After Buljubasic & Vasquez's consistent neighbourhood search for vector packing: take the
least loaded bin's items out, then try to seat them in the other bins. An item that fits
goes in (best fit); one that does not is swapped for a smaller item already seated, which
then waits its turn. A short tabu stops an item from being swapped straight back. Success
(nothing left waiting) saves a bin, and the search goes on from there. The budget is a
number of moves and the randomness is seeded: the same items always give the same packing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EPS = 1e-9
TABU = 7


def improve(sizes: FloatArray, bin_of: IntArray, bound: int, budget: int, seed: int) -> IntArray:
    """A packing with fewer bins than `bin_of` if the search finds one within `budget` moves."""
    rng = np.random.default_rng(seed)
    best = bin_of
    count = int(bin_of.max()) + 1
    while count > bound and budget > 0:
        found, used = _empty_one_bin(sizes, best, count, budget, rng)
        budget -= used
        if found is None:
            break
        best, count = found, count - 1
    return best


def _empty_one_bin(
    sizes: FloatArray, bin_of: IntArray, count: int, budget: int, rng: np.random.Generator
) -> tuple[IntArray | None, int]:
    """Try to seat the least loaded bin's items elsewhere. Returns (packing or None, moves)."""
    weight = sizes.sum(axis=1)
    load = np.bincount(bin_of, weights=weight, minlength=count)
    out = int(np.argmin(load))
    assign = bin_of.copy()
    assign[assign == out] = -1
    assign[assign > out] -= 1
    bins = count - 1
    residual = np.ones((bins, sizes.shape[1]))
    seated = assign >= 0
    np.subtract.at(residual, assign[seated], sizes[seated])
    tabu = np.zeros(len(assign), dtype=np.int64)
    moves = 0
    while moves < budget:
        waiting = np.flatnonzero(assign < 0)
        if waiting.size == 0:
            return assign, moves
        moves += 1
        if _seat_one(sizes, weight, assign, residual, waiting):
            continue
        if not _swap(sizes, weight, assign, residual, waiting, tabu, moves, rng):
            _kick(sizes, assign, residual, waiting, rng)
    return None, moves


def _seat_one(
    sizes: FloatArray, weight: FloatArray, assign: IntArray, residual: FloatArray, waiting: IntArray
) -> bool:
    """Seat the heaviest waiting item that fits anywhere, in its tightest bin."""
    room = residual[None, :, :] - sizes[waiting][:, None, :]
    ok = np.all(room >= -EPS, axis=2)
    fits = ok.any(axis=1)
    if not fits.any():
        return False
    k = int(np.argmax(np.where(fits, weight[waiting], -1.0)))
    slack = np.where(ok[k], room[k].sum(axis=1), np.inf)
    b = int(np.argmin(slack))
    u = int(waiting[k])
    residual[b] = room[k, b]
    assign[u] = b
    return True


def _swap(
    sizes: FloatArray,
    weight: FloatArray,
    assign: IntArray,
    residual: FloatArray,
    waiting: IntArray,
    tabu: IntArray,
    move: int,
    rng: np.random.Generator,
) -> bool:
    """Swap a waiting item for a seated one whose place it can take, best weight gain first."""
    seated = np.flatnonzero((assign >= 0) & (tabu <= move))
    if seated.size == 0:
        return False
    base = residual[assign[seated]] + sizes[seated]
    ok = np.all(base[None, :, :] >= sizes[waiting][:, None, :] - EPS, axis=2)
    if not ok.any():
        return False
    gain = weight[waiting][:, None] - weight[seated][None, :]
    gain = np.where(ok, gain + 1e-6 * rng.random(ok.shape), -np.inf)
    k, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
    u, v = int(waiting[k]), int(seated[j])
    b = int(assign[v])
    residual[b] += sizes[v] - sizes[u]
    assign[u], assign[v] = b, -1
    tabu[u] = move + TABU
    return True


def _kick(
    sizes: FloatArray,
    assign: IntArray,
    residual: FloatArray,
    waiting: IntArray,
    rng: np.random.Generator,
) -> None:
    """No swap is possible: force a random waiting item into a random bin, evicting others."""
    u = int(waiting[rng.integers(waiting.size)])
    b = int(rng.integers(residual.shape[0]))
    members = np.flatnonzero(assign == b)
    for v in members[rng.permutation(members.size)].tolist():
        if np.all(residual[b] >= sizes[u] - EPS):
            break
        residual[b] += sizes[v]
        assign[v] = -1
    residual[b] -= sizes[u]
    assign[u] = b
