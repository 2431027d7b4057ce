"""The flattened agent columns equal the plain one-mapping-at-a-time reading."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from controlplane.planning.helpers.columns import count_columns, flatten, resource_matrix

NAMES = ["cpus", "mem", "disk", "gpus", "ports"]
amount = st.floats(min_value=0, max_value=1e6, allow_nan=False)
mapping = st.dictionaries(st.sampled_from(NAMES), amount)
#: Same names in the same order on every row: the tiled fast path.
uniform = st.lists(st.fixed_dictionaries({"cpus": amount, "mem": amount}), max_size=30)


@given(st.one_of(st.lists(mapping, max_size=30), uniform))
def test_resource_matrix_is_the_per_row_reading(maps: list[dict[str, float]]) -> None:
    dims = {name: i for i, name in enumerate(NAMES)}
    expected = np.array(
        [[m.get(name, 0.0) for name in NAMES] for m in maps], dtype=np.float64
    ).reshape(len(maps), len(NAMES))
    assert np.array_equal(resource_matrix(flatten(maps), dims), expected)


@given(
    st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 50))),
    st.sets(st.sampled_from(["a", "b", "c", "x"])),
)
def test_count_columns_adds_only_the_wanted_names(
    maps: list[dict[str, int]], names: set[str]
) -> None:
    wanted = {name: np.full(len(maps) + 3, 7, dtype=np.int64) for name in sorted(names)}
    count_columns(flatten(maps), wanted)
    for name, column in wanted.items():
        expected = [7 + m.get(name, 0) for m in maps] + [7, 7, 7]
        assert column.tolist() == expected


def test_unknown_resource_name_is_a_key_error() -> None:
    # An unknown dimension must never be dropped silently.
    with pytest.raises(KeyError, match="fpgas"):
        resource_matrix(flatten([{"cpus": 1.0}, {"fpgas": 1.0}]), {"cpus": 0})
