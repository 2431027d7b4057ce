"""RecordIO framing of the Mesos v1 event streams: `<decimal length>\\n<bytes>`, no trailer.

The streams travel in HTTP chunks whose boundaries have nothing to do with record
boundaries, so the decoder keeps partial input between feeds. A SUBSCRIBED record holds the
whole cluster (tens of MB at 10,000 agents) and arrives in thousands of pieces: the buffer
grows in place and is read from an offset, so a record costs its length once, not once per
piece. A length beyond `max_record` is refused as garbage before anything is buffered for it.
"""

from __future__ import annotations

#: A length prefix longer than this many digits is garbage, not a record.
_MAX_DIGITS = 20
#: The largest record accepted by default (a GET_STATE of a very large cluster).
MAX_RECORD = 1 << 30


class RecordIOError(ValueError):
    """The byte stream is not RecordIO."""


def encode(record: bytes) -> bytes:
    """One record, framed."""
    return str(len(record)).encode("ascii") + b"\n" + record


class Decoder:
    """Feed arbitrary byte pieces, get whole records back in order."""

    def __init__(self, max_record: int = MAX_RECORD) -> None:
        self._buffer = bytearray()
        self._start = 0
        self._need: int | None = None  # the body length of the record being read
        self._max = max_record

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        records: list[bytes] = []
        buf = self._buffer
        while True:
            if self._need is None:
                newline = buf.find(b"\n", self._start, self._start + _MAX_DIGITS + 1)
                if newline < 0:
                    head = bytes(buf[self._start :])
                    if len(head) > _MAX_DIGITS or (not head.isdigit() and head):
                        raise RecordIOError(f"bad record length prefix {head[:24]!r}")
                    break
                prefix = bytes(buf[self._start : newline])
                if not prefix or not prefix.isdigit():
                    raise RecordIOError(f"bad record length prefix {prefix[:24]!r}")
                length = int(prefix)
                if length > self._max:
                    raise RecordIOError(f"record of {length} bytes over {self._max}")
                self._need = length
                self._start = newline + 1
            if len(buf) - self._start < self._need:
                break
            end = self._start + self._need
            records.append(bytes(buf[self._start : end]))
            self._start, self._need = end, None
        if self._start:  # drop what has been read (a copy of the unread tail only)
            del buf[: self._start]
            self._start = 0
        return records

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a record."""
        return len(self._buffer) - self._start
