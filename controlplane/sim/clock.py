"""Clocks for the embedded world: real time by default, virtual time for tests and the demo.

Everything in `controlplane/sim/` reads time through a `Clock`, never `time.time()`, so a
test can run an hour of task lifetimes, decline filters and drain grace periods in
milliseconds by advancing a `VirtualClock`.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol

#: Where a virtual clock starts unless told otherwise (a fixed, readable instant).
VIRTUAL_EPOCH = datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp()


class Clock(Protocol):
    """Seconds since the Unix epoch, as a float."""

    def now(self) -> float: ...


class RealClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()


class VirtualClock:
    """Time that moves only when told to (thread-safe)."""

    def __init__(self, start: float = VIRTUAL_EPOCH) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by `seconds` (>= 0) and return the new time."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        """Jump to `when`, which must not lie in the past."""
        with self._lock:
            if when < self._now:
                raise ValueError(f"a clock cannot go back (to {when} from {self._now})")
            self._now = when


def utc(seconds: float) -> datetime:
    """A clock reading as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, tz=UTC)
