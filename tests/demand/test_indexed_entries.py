"""The queue's index answers exactly what a scan of a plain dict of the entries would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from controlplane.demand.entries import IndexedEntries

KEYS = st.sampled_from([f"t{i}" for i in range(8)])
STATES = st.sampled_from(["queued", "launched", "running", "finished"])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), KEYS, STATES),
        st.tuples(st.just("del"), KEYS, STATES),
        st.tuples(st.just("clear"), KEYS, STATES),
    ),
    max_size=60,
)


@given(OPS, st.sets(STATES, min_size=1))
def test_the_index_matches_a_scan_in_dict_order(
    ops: list[tuple[str, str, str]], asked: set[str]
) -> None:
    indexed: IndexedEntries[tuple[str, str]] = IndexedEntries(lambda e: e[1])
    plain: dict[str, tuple[str, str]] = {}
    for op, key, state in ops:
        if op == "set":
            indexed[key] = plain[key] = (key, state)
        elif op == "del" and key in plain:
            del indexed[key], plain[key]
        elif op == "clear":
            indexed.clear()
            plain.clear()
        assert indexed.ids(*asked) == [k for k, e in plain.items() if e[1] in asked]
        assert indexed.counted(*asked) == sum(1 for e in plain.values() if e[1] in asked)
        assert list(indexed.items()) == list(plain.items()) and len(indexed) == len(plain)
