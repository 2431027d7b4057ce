"""RecordIO framing survives any split of the byte stream into chunks."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controlplane.mesos.recordio import Decoder, RecordIOError, encode


@given(
    records=st.lists(st.binary(max_size=300), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
)
def test_round_trip_for_any_chunk_boundaries(records: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(encode(r) for r in records)
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    decoder = Decoder()
    out: list[bytes] = []
    for start, end in itertools.pairwise(bounds):
        out.extend(decoder.feed(stream[start:end]))
    assert out == records
    assert decoder.pending == 0


def test_record_has_no_trailing_newline() -> None:
    assert encode(b'{"type":"HEARTBEAT"}') == b'20\n{"type":"HEARTBEAT"}'


@pytest.mark.parametrize("garbage", [b"x\n", b"12a\nabc", b"9" * 30])
def test_garbage_prefix_is_refused(garbage: bytes) -> None:
    with pytest.raises(RecordIOError):
        Decoder().feed(garbage)
