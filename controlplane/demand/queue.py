"""The framework's own queue of tasks: submitted, launched, running, ended.

Thread-safe: HTTP submissions, the pymesos callback thread and a reconcile pass all touch
it. Listeners hear about new work so the framework can revive offers at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from controlplane.demand.errors import DemandError
from controlplane.demand.submission import Submission
from controlplane.model import Task

#: Where a queued task stands. Ended tasks are kept (bounded) so a status can be read back.
QUEUED, LAUNCHED, RUNNING = "queued", "launched", "running"
LIVE = frozenset({LAUNCHED, RUNNING})


@dataclass
class Entry:
    submission: Submission
    state: str = QUEUED
    agent_id: str | None = None
    mesos_state: str | None = None
    message: str | None = None


class TaskQueue:
    """Submit tasks; the framework takes them, launches them and reports how they end."""

    def __init__(self, keep_ended: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._listeners: list[Callable[[], None]] = []
        self._keep_ended = keep_ended

    def on_new_work(self, listener: Callable[[], None]) -> None:
        """Call `listener` (outside the lock) whenever tasks become pending."""
        with self._lock:
            self._listeners.append(listener)

    def submit(self, batch: Sequence[Submission]) -> list[str]:
        """Queue every task of `batch` or none: an id already queued or live is an error."""
        with self._lock:
            for sub in batch:
                entry = self._entries.get(sub.id)
                if entry is not None and entry.state in {QUEUED, *LIVE}:
                    raise DemandError(f"task {sub.id!r} is already {entry.state}")
            ids = [sub.id for sub in batch]
            if len(set(ids)) != len(ids):
                raise DemandError("duplicate task ids in one submission")
            for sub in batch:
                self._entries[sub.id] = Entry(sub)
        self._notify()
        return ids

    def pending(self) -> list[Task]:
        """Queued tasks in submission order, as contract tasks."""
        with self._lock:
            return [e.submission.as_task() for e in self._entries.values() if e.state == QUEUED]

    def submission(self, task_id: str) -> Submission:
        with self._lock:
            return self._entries[task_id].submission

    def launched(self, task_id: str, agent_id: str) -> None:
        with self._lock:
            entry = self._entries[task_id]
            entry.state, entry.agent_id = LAUNCHED, agent_id

    def update(self, task_id: str, mesos_state: str, message: str | None = None) -> bool:
        """Record a Mesos status. Returns False for a task this queue does not know."""
        with self._lock:
            entry = self._entries.get(task_id)
            if entry is None:
                return False
            entry.mesos_state, entry.message = mesos_state, message
            if mesos_state in {"TASK_RUNNING", "TASK_STARTING", "TASK_STAGING"}:
                entry.state = RUNNING
            else:
                entry.state = mesos_state.removeprefix("TASK_").lower()
                self._trim()
            return True

    def requeue(self, task_id: str) -> None:
        """Put a task that never started (offer was stale) back in the queue."""
        with self._lock:
            entry = self._entries[task_id]
            entry.state, entry.agent_id = QUEUED, None
        self._notify()

    def live(self) -> dict[str, str]:
        """Launched or running task id -> agent id (what reconciliation asks about)."""
        with self._lock:
            return {
                tid: e.agent_id
                for tid, e in self._entries.items()
                if e.state in LIVE and e.agent_id is not None
            }

    def state(self, task_id: str) -> str | None:
        with self._lock:
            entry = self._entries.get(task_id)
            return None if entry is None else entry.state

    def counts(self) -> dict[str, int]:
        with self._lock:
            out: dict[str, int] = {}
            for entry in self._entries.values():
                out[entry.state] = out.get(entry.state, 0) + 1
            return out

    def _trim(self) -> None:
        ended = [t for t, e in self._entries.items() if e.state not in {QUEUED, *LIVE}]
        for task_id in ended[: max(0, len(ended) - self._keep_ended)]:
            del self._entries[task_id]

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
