"""Row-wise reductions over the few resource columns, one column at a time.

numpy reduces a short last axis slowly: `np.all(m, axis=1)` over 3-4 columns is several
times slower than comparing column by column and combining with `&` (`python -m bench`
shows the planner's figures). The planner does this for every class against every row, so
it adds up. Results are the same element-wise operations, so identical to the axis=1 forms.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def all_at_least(have: FloatArray, need: FloatArray) -> BoolArray:
    """`np.all(have >= need, axis=1)` for a (rows, d) `have` and a (d,) `need`."""
    if have.shape[1] == 0:
        return np.ones(have.shape[0], dtype=np.bool_)
    out: BoolArray = have[:, 0] >= need[0]
    for j in range(1, have.shape[1]):
        out &= have[:, j] >= need[j]
    return out


def all_at_most(have: FloatArray, limit: FloatArray) -> BoolArray:
    """`np.all(have <= limit, axis=1)` for a (rows, d) `have` and a (d,) `limit`."""
    if have.shape[1] == 0:
        return np.ones(have.shape[0], dtype=np.bool_)
    out: BoolArray = have[:, 0] <= limit[0]
    for j in range(1, have.shape[1]):
        out &= have[:, j] <= limit[j]
    return out


def any_positive(values: FloatArray) -> BoolArray:
    """`np.any(values > 0, axis=1)`."""
    if values.shape[1] == 0:
        return np.zeros(values.shape[0], dtype=np.bool_)
    out: BoolArray = values[:, 0] > 0
    for j in range(1, values.shape[1]):
        out |= values[:, j] > 0
    return out


def row_min(values: FloatArray) -> FloatArray:
    """`np.min(values, axis=1)` (at least one column)."""
    out: FloatArray = values[:, 0].copy()
    for j in range(1, values.shape[1]):
        np.minimum(out, values[:, j], out=out)
    return out
