"""Fenzo-style fitness: how good a row is for a task, in [0, 1], higher is better.

Bin-packing fitness is the row's utilisation after the placement, averaged over the
resources the pool's function weighs; `spread` is its complement. One weight vector per pool
makes scoring every candidate row a single matrix expression.
"""

from __future__ import annotations

import numpy as np

from controlplane.model import Pool
from controlplane.planning.table import CandidateTable, FloatArray, IntArray

#: The resources each fitness function weighs (None: every resource of the pool).
_WEIGHED: dict[str, tuple[str, ...] | None] = {
    "binpack": None,
    "spread": None,
    "binpack_cpu": ("cpus",),
    "binpack_mem": ("mem",),
    "binpack_network": ("network",),
}


def pool_weights(pools: list[Pool], dims: dict[str, int]) -> tuple[FloatArray, FloatArray]:
    """Per pool: a weight per resource, and a sign (+1 pack, -1 spread)."""
    weights = np.zeros((len(pools), len(dims)), dtype=np.float64)
    sign = np.ones(len(pools), dtype=np.float64)
    for i, pool in enumerate(pools):
        weighed = _WEIGHED[pool.fitness]
        names = pool.capacity if weighed is None else weighed
        for name in names:
            if name in dims and pool.capacity.get(name, 0.0) > 0:
                weights[i, dims[name]] = 1.0
        if not weights[i].any():  # the weighed resource is absent: fall back to all
            for name, amount in pool.capacity.items():
                if amount > 0:
                    weights[i, dims[name]] = 1.0
        if pool.fitness == "spread":
            sign[i] = -1.0
    return weights, sign


class RowFitness:
    """Fitness of placing a demand on given rows of the candidate table.

    Utilisation after placement, weighted, is sum_d (total - free + demand)_d * w_d / total_d
    over the weighed resources a row has, divided by their count. A row's total and pool
    never change once added, so per row u_d = w_d / total_d (kept column by column),
    base = sum_d total_d * u_d and the divisor are computed once, when the row appears;
    a score is then base + sum_d (demand - free)_d * u_d.

    Many rows are scored over the live range without gathering (a contiguous pass is
    cheaper than fancy-indexing thousands of rows), a few by gathering them; both run the
    same element-wise arithmetic in the same order, so a row scores the same either way.
    """

    def __init__(self, table: CandidateTable, weights: FloatArray, sign: FloatArray) -> None:
        self._table = table
        self._weights = weights
        self._sign = sign
        self._done = 0
        self._unit = np.zeros((weights.shape[1], 0), dtype=np.float64)  # (d, rows)
        self._base = np.zeros(0, dtype=np.float64)
        self._denom = np.zeros(0, dtype=np.float64)
        self._packs = np.zeros(0, dtype=np.bool_)

    def _catch_up(self) -> None:
        t, start, end = self._table, self._done, self._table.n
        if end <= start:
            return
        if end > len(self._denom):
            size = t.capacity
            unit = np.zeros((self._unit.shape[0], size), dtype=np.float64)
            unit[:, :start] = self._unit[:, :start]
            self._unit = unit
            self._base = np.resize(self._base, size)
            self._denom = np.resize(self._denom, size)
            self._packs = np.resize(self._packs, size)
        total = t.total[start:end]
        has = total > 0
        pools = t.pool_idx[start:end]
        w = np.where(has, self._weights[pools], 0.0)
        unit = np.divide(w, total, out=np.zeros_like(w), where=has)
        self._unit[:, start:end] = unit.T
        base = np.zeros(end - start)
        for j in range(unit.shape[1]):
            base += total[:, j] * unit[:, j]
        self._base[start:end] = base
        self._denom[start:end] = w.sum(axis=1)
        self._packs[start:end] = self._sign[pools] > 0
        self._done = end

    def __call__(self, rows: IntArray, demand: FloatArray) -> FloatArray:
        self._catch_up()
        t = self._table
        n = t.n
        if 4 * len(rows) < n:
            free, unit, base = t.free[rows], self._unit[:, rows], self._base[rows]
            denom, packs = self._denom[rows], self._packs[rows]
        else:
            free, unit, base = t.free[:n], self._unit[:, :n], self._base[:n]
            denom, packs = self._denom[:n], self._packs[:n]
        num = base.copy()
        for j in range(unit.shape[0]):
            num += (demand[j] - free[:, j]) * unit[j]
        packed = np.divide(num, denom, out=np.zeros(len(num)), where=denom > 0)
        out: FloatArray = np.where(packs, packed, 1.0 - packed)
        return out if 4 * len(rows) < n else out[rows]
