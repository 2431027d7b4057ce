"""The pass's reads of Mesos and the Auto Scaling groups, made while the state loads.

None of the three reads needs another's answer, and each is a round trip (tens of
milliseconds against AWS, more under throttling), so a pass starts the Mesos and AWS reads
on two worker threads and loads the state table meanwhile: a pass waits for the slowest read,
not for their sum. Each answer is taken in the order the pass always had them, so an error is
still its own stage's; a pass never leaves a read running when it fails (the next pass would
race it). `concurrent=False` reads one after another, when taken, as a benchmark timing each
read alone needs.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")


class Read(Generic[T]):
    """One read: started already (concurrent) or made when its answer is taken."""

    def __init__(self, fn: Callable[[], T], pool: ThreadPoolExecutor | None) -> None:
        self._fn = fn
        self._future: Future[T] | None = pool.submit(fn) if pool is not None else None

    def take(self) -> T:
        """The answer (its error raised here, as if the read were made now)."""
        return self._fn() if self._future is None else self._future.result()

    def settle(self) -> None:
        """Wait for a started read to end, whatever its answer."""
        if self._future is not None:
            self._future.exception()


class PassReads:
    """Starts a pass's reads; one pool for the life of the reconciler."""

    def __init__(self, concurrent: bool = True) -> None:
        self._pool = (
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="pass-read")
            if concurrent
            else None
        )

    def start(self, fn: Callable[[], T]) -> Read[T]:
        return Read(fn, self._pool)
