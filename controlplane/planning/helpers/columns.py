"""Columns of the candidate table pulled out of 10,000 agent models in a few C-level passes.

At 10,000 agents, reading resources and job counts one agent at a time in Python cost more
than every placement decision of a 200-task pass. Each list of mappings is flattened once
(`itertools.chain` over keys and over values, both in dict order), and numpy scatters the
values into place. Agents usually report the same resource names in the same order: then
the columns are one tiled pattern and no per-entry lookup is paid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from operator import methodcaller

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_values = methodcaller("values")


@dataclass(frozen=True)
class Flat:
    """Every (key, value) of a list of mappings, in order; row i owns `lengths[i]` entries."""

    lengths: IntArray
    keys: list[str]
    values: FloatArray

    @property
    def rows(self) -> int:
        return len(self.lengths)

    def row_of_entry(self) -> IntArray:
        return np.repeat(np.arange(self.rows, dtype=np.int64), self.lengths)

    def columns(self, index: Mapping[str, int], missing: int | None = None) -> IntArray:
        """Each entry's column; a key not in `index` is `missing` (None: KeyError)."""
        size = len(self.keys)
        if size and self.lengths.min() == self.lengths.max():
            width = int(self.lengths[0])
            pattern = self.keys[:width]
            if self.keys == pattern * self.rows:  # list equality runs in C
                codes = [index[k] if missing is None else index.get(k, missing) for k in pattern]
                return np.tile(np.array(codes, dtype=np.int64), self.rows)
        lookup = (
            map(index.__getitem__, self.keys)
            if missing is None
            else map(index.get, self.keys, repeat(missing))
        )
        return np.fromiter(lookup, np.int64, count=size)


def flatten(maps: Sequence[Mapping[str, float]]) -> Flat:
    lengths = np.fromiter(map(len, maps), np.int64, count=len(maps))
    keys = list(chain.from_iterable(maps))
    values = np.fromiter(chain.from_iterable(map(_values, maps)), np.float64, count=len(keys))
    return Flat(lengths, keys, values)


def resource_matrix(flat: Flat, dims: Mapping[str, int]) -> FloatArray:
    """An (rows, len(dims)) matrix of the amounts; every key must be a dimension."""
    out = np.zeros((flat.rows, len(dims)), dtype=np.float64)
    if flat.keys:
        out[flat.row_of_entry(), flat.columns(dims)] = flat.values
    return out


def count_columns(flat: Flat, wanted: Mapping[str, IntArray]) -> None:
    """Add row i's count of each `wanted` name to element i of that name's array."""
    if not flat.keys or not wanted:
        return
    names = list(wanted)
    cols = flat.columns({name: i for i, name in enumerate(names)}, missing=-1)
    keep = np.flatnonzero(cols >= 0)
    if keep.size == 0:
        return
    rows, cols, vals = flat.row_of_entry()[keep], cols[keep], flat.values[keep]
    order = np.argsort(cols, kind="stable")
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(cols, np.arange(len(names) + 1))
    for i, name in enumerate(names):
        lo, hi = int(starts[i]), int(starts[i + 1])
        if hi > lo:
            # A name appears at most once per mapping: the rows of one name are distinct.
            wanted[name][rows[lo:hi]] += vals[lo:hi].astype(np.int64)
