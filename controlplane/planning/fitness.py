"""Fenzo-style fitness: how good a row is for a task, in [0, 1], higher is better.

Bin-packing fitness is the row's utilisation after the placement, averaged over the
resources the pool's function weighs; `spread` is its complement. One weight vector per pool
makes scoring every candidate row a single matrix expression.
"""

from __future__ import annotations

import numpy as np

from controlplane.model import Pool
from controlplane.planning.table import FloatArray, IntArray

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


def fitness(
    free: FloatArray,
    total: FloatArray,
    pool_idx: IntArray,
    demand: FloatArray,
    weights: FloatArray,
    sign: FloatArray,
) -> FloatArray:
    """Fitness of placing `demand` on each given row (rows as matching arrays)."""
    w = weights[pool_idx]
    safe_total = np.where(total > 0, total, 1.0)
    util = np.where(total > 0, (total - free + demand) / safe_total, 0.0)
    w = np.where(total > 0, w, 0.0)
    denom = w.sum(axis=1)
    packed = np.divide((util * w).sum(axis=1), denom, out=np.zeros(len(denom)), where=denom > 0)
    out: FloatArray = np.where(sign[pool_idx] > 0, packed, 1.0 - packed)
    return out
