"""The framework's own queue of tasks: submitted, launched, running, ended.

Thread-safe: HTTP submissions, the pymesos callback thread and a reconcile pass all touch
it. Listeners hear about new work so the framework can revive offers at once.

Durable when given a `QueueJournal`: a batch is written (under the lease) before
`submit` returns, and a launch before its ACCEPT goes out, so a new leader that loads the
journal knows every task it owes and which of them may already run. A task's end is
written lazily (`flush`, or with the next write): a lost deletion costs one reconciliation
answer, never a task. Tasks that Mesos loses (LOST, GONE, DROPPED, UNKNOWN) are queued
again, at most `max_relaunches` times, with the reasons kept. A restartable task the loop
relocates is marked durably before it is killed, and queued again when it ends killed.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from controlplane.demand.entries import IndexedEntries
from controlplane.demand.errors import DemandError
from controlplane.demand.submission import Submission
from controlplane.model import Task

log = logging.getLogger(__name__)

#: Where a queued task stands. Ended tasks are kept (bounded) so a status can be read back.
QUEUED, LAUNCHED, RUNNING = "queued", "launched", "running"
LIVE = frozenset({LAUNCHED, RUNNING})
#: Mesos states after which the task is not running and may be run again elsewhere.
RELAUNCH_STATES = frozenset(
    {"TASK_LOST", "TASK_GONE", "TASK_DROPPED", "TASK_UNKNOWN", "TASK_GONE_BY_OPERATOR"}
)
_STARTED = frozenset({"TASK_RUNNING", "TASK_STARTING", "TASK_STAGING", "TASK_KILLING"})
#: The ends of a task the loop killed to relocate it: it is queued again (not a relaunch).
RELOCATED_STATES = frozenset({"TASK_KILLED", *RELAUNCH_STATES})
#: A relocation kill is sent again only this long after the last one (seconds).
RESEND_KILL_S = 30.0
#: Reasons kept per task (the newest).
KEEP_REASONS = 5
#: Finished-task durations kept for the next pass to learn from, at most.
MAX_FINISHED = 10_000


class QueueFullError(DemandError):
    """The queue holds `max_queued` tasks; the client should retry later (HTTP 429)."""


class JournalError(DemandError):
    """The durable store refused or could not take a write; nothing was accepted (HTTP 503)."""


@dataclass(frozen=True)
class Entry:
    submission: Submission
    state: str = QUEUED
    agent_id: str | None = None
    mesos_state: str | None = None
    message: str | None = None
    #: Launches that Mesos lost, so far.
    relaunches: int = 0
    reasons: tuple[str, ...] = field(default_factory=tuple)
    #: When Mesos said it was running (status timestamp), for learning its duration.
    started_at: float | None = None
    #: Why the loop is killing it to run it elsewhere (its TASK_KILLED queues it again).
    relocating: str | None = None
    #: Times it was relocated so far.
    relocations: int = 0


class QueueJournal(Protocol):
    """Where entries are kept durably (`controlplane.state.TaskJournal` on DynamoDB)."""

    def write(self, puts: Sequence[Entry], deletes: Sequence[str]) -> None:
        """Store `puts` (each in one piece, all of one call at once) and drop `deletes`;
        JournalError if not stored."""
        ...

    def load(self) -> list[Entry]: ...


class TaskQueue:
    """Submit tasks; the framework takes them, launches them and reports how they end."""

    def __init__(
        self,
        *,
        journal: QueueJournal | None = None,
        max_queued: int = 10_000,
        max_relaunches: int = 3,
        keep_ended: int = 10_000,
    ) -> None:
        self._lock = threading.RLock()
        self._entries: IndexedEntries[Entry] = IndexedEntries(lambda e: e.state)
        self._listeners: list[Callable[[], None]] = []
        self._journal = journal
        self.max_queued = max_queued
        self.max_relaunches = max_relaunches
        self._keep_ended = keep_ended
        #: Ended tasks whose journal entry is still to be deleted.
        self._unwritten_ends: set[str] = set()
        #: Live tasks loaded from the journal that Mesos has not told us about yet.
        self._unreconciled: set[str] = set()
        self._loaded = journal is None
        #: (job, seconds) of tasks that finished since the last `take_finished`.
        self._finished: deque[tuple[str, float]] = deque(maxlen=MAX_FINISHED)
        #: How a task is killed in Mesos (the framework's driver), once it runs.
        self._kill: Callable[[str], bool] | None = None
        #: task id -> when its relocation kill last went out (monotonic seconds).
        self._killed_at: dict[str, float] = {}

    def attach_killer(self, kill: Callable[[str], bool]) -> None:
        """How `relocate` kills a task (the framework, once its driver runs)."""
        with self._lock:
            self._kill = kill

    def on_new_work(self, listener: Callable[[], None]) -> None:
        """Call `listener` (outside the lock) whenever tasks become pending."""
        with self._lock:
            self._listeners.append(listener)

    # ---- leadership ---------------------------------------------------------------------

    def attach_journal(self, journal: QueueJournal) -> None:
        """Make the queue durable; it then holds nothing until `load`."""
        with self._lock:
            assert not self._entries, "attach the journal before any submission"
            self._journal = journal
            self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        """Replace what is held with the journal (a new leader); JournalError if unreadable."""
        assert self._journal is not None, "an in-memory queue has nothing to load"
        entries = self._journal.load()
        with self._lock:
            self._entries.clear()
            for e in entries:
                self._entries[e.submission.id] = e
            self._unwritten_ends.clear()
            self._unreconciled = {e.submission.id for e in entries if e.state in LIVE}
            self._loaded = True
        self._notify()

    def forget(self) -> None:
        """Drop what is held (leadership lost): the journal keeps it for the next leader."""
        if self._journal is None:
            return
        with self._lock:
            self._entries.clear()
            self._unwritten_ends.clear()
            self._unreconciled.clear()
            self._loaded = False

    def not_ready(self) -> str | None:
        """Why submissions must wait (503), or None when they may be taken."""
        with self._lock:
            if not self._loaded:
                return "the queue is not loaded yet"
            if self._unreconciled:
                return f"reconciling {len(self._unreconciled)} tasks with Mesos"
            return None

    def unreconciled(self) -> dict[str, str | None]:
        """Task id -> agent id of loaded live tasks Mesos has not answered for yet."""
        with self._lock:
            return {t: self._entries[t].agent_id for t in sorted(self._unreconciled)}

    # ---- submission ---------------------------------------------------------------------

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
            queued = self._entries.counted(QUEUED)
            if queued + len(batch) > self.max_queued:
                raise QueueFullError(
                    f"{queued} tasks queued; {len(batch)} more would pass the cap of "
                    f"{self.max_queued}"
                )
            fresh = [Entry(sub) for sub in batch]
            self._write(fresh)
            for entry in fresh:
                self._unwritten_ends.discard(entry.submission.id)
                self._entries[entry.submission.id] = entry
        self._notify()
        return ids

    def pending(self) -> list[Task]:
        """Queued tasks in submission order, as contract tasks."""
        with self._lock:
            return [self._entries[t].submission.as_task() for t in self._entries.ids(QUEUED)]

    def submission(self, task_id: str) -> Submission:
        with self._lock:
            return self._entries[task_id].submission

    # ---- the framework's side -----------------------------------------------------------

    def launching(self, placements: Mapping[str, str]) -> None:
        """Record task id -> agent id before the launch goes to Mesos (durably first)."""
        with self._lock:
            updated = [
                replace(self._entries[t], state=LAUNCHED, agent_id=a)
                for t, a in sorted(placements.items())
            ]
            self._write(updated)
            for entry in updated:
                self._entries[entry.submission.id] = entry

    def update(
        self,
        task_id: str,
        mesos_state: str,
        message: str | None = None,
        reason: str | None = None,
        at: float | None = None,
    ) -> bool:
        """Record a Mesos status (`at`: its timestamp). Returns False for a task this queue
        does not know. A task that finishes after a timed TASK_RUNNING teaches its job's
        duration (`take_finished`)."""
        requeued = False
        with self._lock:
            entry = self._entries.get(task_id)
            if entry is None:
                return False
            self._unreconciled.discard(task_id)
            entry = replace(entry, mesos_state=mesos_state, message=message)
            if mesos_state == "TASK_RUNNING" and entry.started_at is None and at is not None:
                entry = replace(entry, started_at=at)
            if mesos_state == "TASK_FINISHED" and entry.started_at is not None and at is not None:
                self._finished.append((entry.submission.job_name, at - entry.started_at))
            if mesos_state in _STARTED:
                entry = replace(entry, state=RUNNING)
            elif entry.relocating is not None and mesos_state in RELOCATED_STATES:
                entry = replace(
                    entry,
                    state=QUEUED,
                    agent_id=None,
                    started_at=None,
                    relocating=None,
                    relocations=entry.relocations + 1,
                    reasons=(*entry.reasons, f"relocated: {entry.relocating}")[-KEEP_REASONS:],
                )
                requeued = True
                self._write_quietly([entry])
            elif mesos_state in RELAUNCH_STATES and entry.relaunches < self.max_relaunches:
                why = f"{mesos_state}{f' ({reason})' if reason else ''}: {message or ''}".strip()
                entry = replace(
                    entry,
                    state=QUEUED,
                    agent_id=None,
                    relaunches=entry.relaunches + 1,
                    reasons=(*entry.reasons, why)[-KEEP_REASONS:],
                )
                requeued = True
                self._write_quietly([entry])
            else:
                state = mesos_state.removeprefix("TASK_").lower()
                if mesos_state in RELAUNCH_STATES:
                    state = f"{state} after {entry.relaunches} relaunches"
                entry = replace(entry, state=state)
                self._unwritten_ends.add(task_id)
            self._entries[task_id] = entry
            if not requeued and entry.state not in LIVE:
                self._trim()
        if requeued:
            self._notify()
        return True

    def relocate(self, task_id: str, reason: str) -> bool:
        """Kill a running task so that it runs again elsewhere: durably marked first (a
        new leader that sees it killed queues it again), then killed. False when it is not
        a launched or running task of this queue or no driver can kill it yet (a launch
        still staging is killed too: it would start where it must not run)."""
        with self._lock:
            entry = self._entries.get(task_id)
            kill = self._kill
            if entry is None or entry.state not in LIVE or kill is None:
                return False
            now = time.monotonic()
            if entry.relocating is None:
                entry = replace(entry, relocating=reason)
                self._write([entry])
                self._entries[task_id] = entry
            elif now - self._killed_at.get(task_id, -math.inf) < RESEND_KILL_S:
                return True  # its kill is on its way; a second one would race its relaunch
            self._killed_at = {t: at for t, at in self._killed_at.items() if t in self._entries}
        # Again for one marked long ago: a kill that did not go out is resent. Only a kill
        # that went out holds the next one back.
        if kill(task_id):
            with self._lock:
                self._killed_at[task_id] = now
        return True

    def relocating(self) -> dict[str, str]:
        """Running task id -> agent id of tasks being relocated (killed, not yet ended)."""
        with self._lock:
            live = ((t, self._entries[t]) for t in self._entries.ids(*LIVE))
            return {
                tid: e.agent_id
                for tid, e in live
                if e.relocating is not None and e.agent_id is not None
            }

    def take_finished(self) -> list[tuple[str, float]]:
        """(job, seconds run) of the tasks finished since the last call."""
        with self._lock:
            out = list(self._finished)
            self._finished.clear()
            return out

    def requeue(self, task_id: str) -> None:
        """Put a task that never started (its offer was stale) back in the queue."""
        with self._lock:
            entry = replace(self._entries[task_id], state=QUEUED, agent_id=None)
            self._unreconciled.discard(task_id)
            self._entries[task_id] = entry
            self._write_quietly([entry])
        self._notify()

    def flush(self) -> None:
        """Delete the journal entries of ended tasks (best effort; kept for the next try)."""
        with self._lock:
            if self._unwritten_ends:
                self._write_quietly([])

    # ---- reading ------------------------------------------------------------------------

    def live(self) -> dict[str, str]:
        """Launched or running task id -> agent id (what reconciliation asks about)."""
        with self._lock:
            live = ((t, self._entries[t]) for t in self._entries.ids(*LIVE))
            return {tid: e.agent_id for tid, e in live if e.agent_id is not None}

    def entry(self, task_id: str) -> Entry | None:
        with self._lock:
            return self._entries.get(task_id)

    def state(self, task_id: str) -> str | None:
        entry = self.entry(task_id)
        return None if entry is None else entry.state

    def counts(self) -> dict[str, int]:
        with self._lock:
            out: dict[str, int] = {}
            for entry in self._entries.values():
                out[entry.state] = out.get(entry.state, 0) + 1
            return out

    # ---- plumbing -----------------------------------------------------------------------

    def _write(self, puts: Sequence[Entry]) -> None:
        """Store `puts` with any ended tasks still to delete; JournalError if not stored."""
        if self._journal is None:
            return
        ends = sorted(self._unwritten_ends - {e.submission.id for e in puts})
        self._journal.write(puts, ends)
        self._unwritten_ends.difference_update(ends)

    def _write_quietly(self, puts: Sequence[Entry]) -> None:
        """As `_write`, for writes that reconciliation repairs if lost (logged, not raised)."""
        try:
            self._write(puts)
        except DemandError as error:
            log.warning("queue journal: %s (repaired on failover)", error)

    def _trim(self) -> None:
        if len(self._entries) - self._entries.counted(QUEUED, *LIVE) <= self._keep_ended:
            return
        ended = [t for t, e in self._entries.items() if e.state not in {QUEUED, *LIVE}]
        for task_id in ended[: max(0, len(ended) - self._keep_ended)]:
            del self._entries[task_id]

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
