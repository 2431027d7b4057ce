"""The k best candidates without sorting all of them.

A class of k tasks needs at most k rows (every candidate fits at least one task), but
sorting 10,000 candidates for each of hundreds of small classes cost more than the rest of
their placement. `np.partition` finds the k-th score in linear time; ties at that score go
to the lower position, as `argmax` and a stable sort would.
"""

from __future__ import annotations

import numpy as np

from controlplane.planning.table import FloatArray, IntArray


def best_of(pos: IntArray, score: FloatArray, k: int) -> IntArray:
    """The k best of `pos` (ascending positions into `score`), best first; ties to the
    lower position."""
    if len(pos) > k:
        sub = score[pos]
        kth = np.partition(sub, len(sub) - k)[len(sub) - k]
        above = pos[sub > kth]
        pos = np.concatenate([above, pos[sub == kth][: k - len(above)]])
    ranked: IntArray = pos[np.lexsort((pos, -score[pos]))]
    return ranked
