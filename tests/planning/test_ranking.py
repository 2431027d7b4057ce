"""best_of: the first k of a full stable sort by score, without the sort."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from controlplane.planning.helpers.ranking import best_of

# Few distinct scores: ties at the k-th score are the case that matters.
scores = st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1000.5]), min_size=1, max_size=40)


@given(scores, st.integers(1, 45), st.data())
def test_best_of_is_the_head_of_a_stable_sort(
    values: list[float], k: int, data: st.DataObject
) -> None:
    score = np.array(values)
    chosen = data.draw(st.sets(st.integers(0, len(values) - 1), min_size=1))
    pos = np.array(sorted(chosen), dtype=np.int64)
    full = pos[np.lexsort((pos, -score[pos]))]
    assert best_of(pos, score, k).tolist() == full[:k].tolist()
