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
    never change once added, so w_d / total_d and the divisor are kept per row, computed
    once when the row appears: scoring 10,000 rows is then one product and a sum.
    """

    def __init__(self, table: CandidateTable, weights: FloatArray, sign: FloatArray) -> None:
        self._table = table
        self._weights = weights
        self._sign = sign
        self._done = 0
        self._per_unit = np.zeros((0, weights.shape[1]), dtype=np.float64)
        self._denom = np.zeros(0, dtype=np.float64)

    def _catch_up(self) -> None:
        t, start, end = self._table, self._done, self._table.n
        if end <= start:
            return
        if end > len(self._denom):
            size = t.capacity
            self._per_unit = np.resize(self._per_unit, (size, self._per_unit.shape[1]))
            self._denom = np.resize(self._denom, size)
        total = t.total[start:end]
        has = total > 0
        w = np.where(has, self._weights[t.pool_idx[start:end]], 0.0)
        self._per_unit[start:end] = np.divide(w, total, out=np.zeros_like(w), where=has)
        self._denom[start:end] = w.sum(axis=1)
        self._done = end

    def __call__(self, rows: IntArray, demand: FloatArray) -> FloatArray:
        self._catch_up()
        t = self._table
        after = t.total[rows] - t.free[rows] + demand
        num = np.einsum("ij,ij->i", after, self._per_unit[rows])
        denom = self._denom[rows]
        packed = np.divide(num, denom, out=np.zeros(len(rows)), where=denom > 0)
        out: FloatArray = np.where(self._sign[t.pool_idx[rows]] > 0, packed, 1.0 - packed)
        return out
