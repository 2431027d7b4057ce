"""The column-at-a-time reductions equal numpy's axis=1 forms, NaN and empty columns too."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from controlplane.planning.helpers.rowwise import all_at_least, all_at_most, any_positive, row_min

values = st.floats(allow_nan=True, allow_infinity=True, width=64)
matrices = st.integers(0, 5).flatmap(
    lambda d: st.tuples(
        arrays(np.float64, st.tuples(st.integers(0, 12), st.just(d)), elements=values),
        arrays(np.float64, (d,), elements=values),
    )
)


@given(matrices)
def test_reductions_equal_axis_one(case: tuple[np.ndarray, np.ndarray]) -> None:
    have, vector = case
    assert np.array_equal(all_at_least(have, vector), np.all(have >= vector, axis=1))
    assert np.array_equal(all_at_most(have, vector), np.all(have <= vector, axis=1))
    assert np.array_equal(any_positive(have), np.any(have > 0, axis=1))
    if have.shape[1]:
        assert np.array_equal(row_min(have), np.min(have, axis=1), equal_nan=True)
