"""Baselines measured in the same run as the planner, so benchmark figures are ratios.

These machines are noisy (two shared cores); a ratio to a simple algorithm timed in the same
process, on the same input, moments apart, says more than a raw millisecond figure.
"""

from __future__ import annotations

import numpy as np

from controlplane.model import Snapshot
from controlplane.planning.helpers.packing import FloatArray, IntArray


def ffd_bins(sizes: FloatArray) -> IntArray:
    """Plain first-fit-decreasing by summed size: the textbook packing baseline.

    Written out here, not the planner's `first_fit`: a baseline must not move when the
    planner is tuned.
    """
    n, d = sizes.shape
    residual = np.ones((n, d))
    bin_of = np.empty(n, dtype=np.int64)
    count = 0
    for i in np.argsort(-sizes.sum(axis=1), kind="stable").tolist():
        ok = np.all(residual[:count] >= sizes[i] - 1e-9, axis=1)
        b = int(ok.argmax()) if ok.any() else count
        if b == count:
            count += 1
        residual[b] -= sizes[i]
        bin_of[i] = b
    return bin_of


def ffd_pass(snapshot: Snapshot) -> int:
    """A bare first-fit-decreasing scheduling pass over the snapshot's agents.

    Reads the agents into arrays and puts each pending task, largest first, on the first
    agent with room: no constraints, pools, zones, reasons or scale-up. What the planner
    does beyond this is what its time ratio to this pass pays for. Returns tasks placed.
    """
    dims = sorted({name for a in snapshot.agents for name in a.total})
    free = np.array(
        [[a.total.get(d, 0.0) - a.used.get(d, 0.0) for d in dims] for a in snapshot.agents]
    )
    demand = np.array([[t.resources.get(d, 0.0) for d in dims] for t in snapshot.pending])
    placed = 0
    for i in np.argsort(-demand.sum(axis=1), kind="stable").tolist():
        ok = np.all(free >= demand[i], axis=1)
        row = int(ok.argmax())
        if ok[row]:
            free[row] -= demand[i]
            placed += 1
    return placed
