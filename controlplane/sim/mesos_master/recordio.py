"""RecordIO framing of the Mesos v1 event stream: `<decimal length>\\n<bytes>`, no trailer.

The stream travels in HTTP chunks whose boundaries have nothing to do with record
boundaries, so the decoder keeps partial input between feeds.
"""

from __future__ import annotations

import re

_LENGTH = re.compile(rb"(\d+)\n")
#: A length prefix longer than this many digits is garbage, not a record.
_MAX_DIGITS = 20


class RecordIOError(ValueError):
    """The byte stream is not RecordIO."""


def encode(record: bytes) -> bytes:
    """One record, framed."""
    return str(len(record)).encode("ascii") + b"\n" + record


class Decoder:
    """Feed arbitrary byte pieces, get whole records back in order."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        records: list[bytes] = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                if len(self._buffer) > _MAX_DIGITS or not _digits_only(self._buffer):
                    raise RecordIOError(f"bad record length prefix {self._buffer[:24]!r}")
                return records
            match = _LENGTH.match(self._buffer)
            if match is None or newline > _MAX_DIGITS:
                raise RecordIOError(f"bad record length prefix {self._buffer[:24]!r}")
            start = match.end()
            length = int(match.group(1))
            if len(self._buffer) < start + length:
                return records
            records.append(self._buffer[start : start + length])
            self._buffer = self._buffer[start + length :]

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a record."""
        return len(self._buffer)


def _digits_only(data: bytes) -> bool:
    return all(0x30 <= b <= 0x39 for b in data)
