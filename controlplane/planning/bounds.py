"""The L1 lower bound on instances: no packing of the work can use fewer.

Per pool, the running work on its agents plus the pending work this plan puts on it, divided
by one instance's capacity, in the resource where that ratio is largest, rounded up.
"""

from __future__ import annotations

import math

import numpy as np

from controlplane.model import Snapshot
from controlplane.planning.table import CandidateTable, FloatArray, vector


def pool_loads(snapshot: Snapshot, table: CandidateTable) -> FloatArray:
    """Resources in use per pool after the plan (pools x dims)."""
    n = table.n
    loads = np.zeros((len(snapshot.pools), len(table.dims)), dtype=np.float64)
    np.add.at(loads, table.pool_idx[:n], table.total[:n] - table.free[:n])
    return loads


def lower_bound(snapshot: Snapshot, table: CandidateTable) -> int:
    loads = pool_loads(snapshot, table)
    total = 0
    for i, pool in enumerate(snapshot.pools):
        cap = vector(table.dims, pool.capacity)
        ratios = np.divide(loads[i], cap, out=np.zeros_like(cap), where=cap > 0)
        worst = float(ratios.max()) if ratios.size else 0.0
        total += math.ceil(worst - 1e-9) if worst > 0 else 0
    return total
