"""The cluster as the operator API's event stream tells it, kept between passes.

Re-reading GET_STATE every pass costs in proportion to the cluster (45 MB, 1.4 s of parsing
at 10,000 agents) when little has changed. Instead a thread holds the operator SUBSCRIBE
stream open: SUBSCRIBED gives the whole state once, then TASK_ADDED, TASK_UPDATED,
AGENT_ADDED and AGENT_REMOVED change only what they name, and HEARTBEATs say the stream is
alive. A pass takes the picture's agents (`views`), rebuilt only where events touched them.

Events during a disconnection are lost (MESOS-5910), so any gap makes the picture stale
until a new SUBSCRIBED rebuilds it, and a stale picture is never used (the pass reads
GET_STATE): the connection closing or failing, no byte for three heartbeat intervals, a
record or event that does not read (the strict reader's error), an event type this reader
does not know, a task update for an agent it does not know. The operator API has no event
for an agent's activation or drain: the control plane's own DEACTIVATE/REACTIVATE calls are
noted here (`noted_active`), and the caller refreshes from GET_STATE every so many passes
for what others do.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from http.client import HTTPException
from typing import Any

import orjson

from controlplane.mesos.operator_client import OperatorClient
from controlplane.mesos.recordio import Decoder, RecordIOError
from controlplane.mesos.replies import (
    TERMINAL_STATES,
    AgentView,
    MalformedReplyError,
    MesosError,
    TaskView,
    read_agents,
    read_state,
    read_tasks,
)

log = logging.getLogger(__name__)
#: A stream silent this many heartbeat intervals is a gap.
SILENT_INTERVALS = 3.0
KNOWN = frozenset({"SUBSCRIBED", "HEARTBEAT", "TASK_ADDED", "TASK_UPDATED", "AGENT_ADDED"})
KNOWN |= {"AGENT_REMOVED", "FRAMEWORK_ADDED", "FRAMEWORK_UPDATED", "FRAMEWORK_REMOVED"}


class StreamGapError(MesosError):
    """The stream cannot be trusted from here: resubscribe."""


class ClusterPicture:
    """Agents (without their tasks) and live tasks, from SUBSCRIBED on; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._agents: dict[str, AgentView] = {}
        self._tasks: dict[str, dict[str, TaskView]] = {}  # agent id -> task id -> task
        self._views: dict[str, AgentView] = {}
        #: What an agent's allocation held beyond its tasks at SUBSCRIBED (executors):
        #: kept, so `used` never reads lower than the master said.
        self._extra: dict[str, dict[str, float]] = {}
        self._dirty: set[str] = set()
        self.fresh = False
        self.heartbeat_s = 15.0
        #: Events applied since the last SUBSCRIBED (what a pass's cost follows).
        self.events = 0

    def reset(self, subscribed: Any) -> None:
        """SUBSCRIBED: the whole state, read like GET_STATE (strictly)."""
        if not isinstance(subscribed, dict):
            raise MalformedReplyError("SUBSCRIBED: expected an object")
        beat = subscribed.get("heartbeat_interval_seconds", 15.0)
        if isinstance(beat, bool) or not isinstance(beat, int | float) or not 0 < beat < 3600:
            raise MalformedReplyError(f"SUBSCRIBED: heartbeat_interval_seconds {beat!r}")
        reply = {"type": "GET_STATE", "get_state": subscribed.get("get_state")}
        agents, _ = read_state(reply, completed=False)
        with self._lock:
            self._agents = {a.id: replace(a, tasks=()) for a in agents}
            self._tasks = {a.id: {t.id: t for t in a.tasks} for a in agents}
            self._extra = {a.id: _beyond(a.used, a.tasks) for a in agents}
            self._views = {a.id: replace(a, offered={}) for a in agents}
            self._dirty.clear()
            self.heartbeat_s = float(beat)
            self.fresh = True
            self.events = 0

    def stale(self) -> None:
        with self._lock:
            self.fresh = False

    def apply(self, event: Any) -> None:
        """One event; StreamGapError for anything it cannot apply with certainty."""
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise StreamGapError("an event without a type")
        kind = event["type"]
        if kind not in KNOWN:
            raise StreamGapError(f"unknown event type {kind!r}")
        if kind == "SUBSCRIBED":
            self.reset(event.get("subscribed"))
            return
        if kind == "HEARTBEAT" or kind.startswith("FRAMEWORK_"):
            return
        with self._lock:
            if not self.fresh:
                raise StreamGapError(f"{kind} before SUBSCRIBED")
            self.events += 1
            getattr(self, f"_{kind.lower()}")(event.get(kind.lower()))

    def _agent_added(self, body: Any) -> None:
        agent = _dict(body, "agent_added")
        (view,) = read_agents({"agents": [agent.get("agent")]}, "AGENT_ADDED", "agent_added", [])
        self._agents[view.id] = view
        self._tasks.setdefault(view.id, {})
        self._extra[view.id] = dict(view.used)
        self._dirty.add(view.id)

    def _agent_removed(self, body: Any) -> None:
        agent_id = _id(_dict(body, "agent_removed").get("agent_id"), "agent_removed.agent_id")
        self._agents.pop(agent_id, None)
        self._tasks.pop(agent_id, None)
        self._extra.pop(agent_id, None)
        self._views.pop(agent_id, None)
        self._dirty.discard(agent_id)

    def _task_added(self, body: Any) -> None:
        task = _dict(body, "task_added").get("task")
        (view,) = read_tasks({"tasks": [task]}, "TASK_ADDED", "task_added")
        if view.agent_id not in self._agents:
            raise StreamGapError(f"TASK_ADDED {view.id} on unknown agent {view.agent_id}")
        if view.live:
            self._tasks[view.agent_id][view.id] = view
            self._dirty.add(view.agent_id)

    def _task_updated(self, body: Any) -> None:
        update = _dict(body, "task_updated")
        status = _dict(update.get("status"), "task_updated.status")
        state = update.get("state")
        if not isinstance(state, str):
            raise StreamGapError("TASK_UPDATED without a state")
        task_id = _id(status.get("task_id"), "task_updated.status.task_id")
        agent_id = _id(status.get("agent_id"), "task_updated.status.agent_id")
        tasks = self._tasks.get(agent_id)
        if tasks is None:
            raise StreamGapError(f"TASK_UPDATED {task_id} on unknown agent {agent_id}")
        known = tasks.get(task_id)
        if state in TERMINAL_STATES:
            if tasks.pop(task_id, None) is not None:
                self._dirty.add(agent_id)
            return
        if known is None:
            raise StreamGapError(f"TASK_UPDATED {task_id} ({state}) for a task never added")
        started = known.started_at
        if state == "TASK_RUNNING" and started is None:
            stamp = status.get("timestamp")
            if isinstance(stamp, int | float) and not isinstance(stamp, bool):
                started = float(stamp)
        tasks[task_id] = replace(known, state=state, started_at=started)
        self._dirty.add(agent_id)

    def noted_active(self, agent_id: str, active: bool) -> None:
        """What the control plane itself just did to an agent (no event says so)."""
        with self._lock:
            agent = self._agents.get(agent_id)
            if agent is not None:
                self._agents[agent_id] = replace(agent, active=active)
                self._dirty.add(agent_id)

    def views(self) -> list[AgentView] | None:
        """Every agent with its live tasks, in id order; None while stale."""
        with self._lock:
            if not self.fresh:
                return None
            for agent_id in self._dirty:
                self._views[agent_id] = _with_tasks(
                    self._agents[agent_id], self._tasks[agent_id].values(), self._extra[agent_id]
                )
            self._dirty.clear()
            return [self._views[a] for a in sorted(self._views)]


def _beyond(used: dict[str, float], tasks: Iterable[TaskView]) -> dict[str, float]:
    """What an allocation holds beyond its tasks' resources (executors), at least 0."""
    out = dict(used)
    for task in tasks:
        for name, amount in task.resources.items():
            out[name] = out.get(name, 0.0) - amount
    return {name: amount for name, amount in out.items() if amount > 1e-9}


def _with_tasks(agent: AgentView, tasks: Iterable[TaskView], extra: dict[str, float]) -> AgentView:
    """The agent with its live tasks and what they use (the allocation events imply)."""
    live = tuple(sorted(tasks, key=lambda t: t.id))
    used: dict[str, float] = dict(extra)
    for task in live:
        for name, amount in task.resources.items():
            used[name] = used.get(name, 0.0) + amount
    return replace(agent, tasks=live, used=used, offered={})  # offers have no events


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StreamGapError(f"{where}: expected an object")
    return value


def _id(value: Any, where: str) -> str:
    text = value.get("value") if isinstance(value, dict) else None
    if not isinstance(text, str) or not text:
        raise StreamGapError(f"{where}: expected an id")
    return text


class ClusterWatch:
    """A daemon thread keeping a `ClusterPicture` from the leader's operator stream."""

    def __init__(self, client: OperatorClient, *, retry_s: float = 1.0) -> None:
        self.client = client
        self.picture = ClusterPicture()
        self.retry_s = retry_s
        #: Why the stream was (re)opened, in order (the first is "start").
        self.gaps: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._reason: str | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> ClusterWatch:
        """Follow the stream (again, after a `stop`); a running watch is left as it is."""
        if not self.running:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="mesos-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following; the picture is stale until a later `start` subscribes."""
        self._stop.set()
        _shut(self._sock)
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)
        self.picture.stale()

    def resubscribe(self, why: str) -> None:
        """Drop the stream (the picture goes stale until the next SUBSCRIBED)."""
        self.picture.stale()
        self._reason = why
        _shut(self._sock)

    def _run(self) -> None:
        why = "start"
        while not self._stop.is_set():
            self.gaps.append(why)
            try:
                self._follow()
                why = "the stream ended"
            except (MesosError, RecordIOError, OSError, ValueError, HTTPException) as error:
                why = str(error) or type(error).__name__
            except Exception as error:  # never let the thread die: a stale picture is safe
                log.exception("operator stream failed")
                why = repr(error)
            self.picture.stale()
            if self._reason is not None:  # asked for: at once, without a warning
                why, self._reason = self._reason, None
                continue
            if not self._stop.is_set():
                log.warning("operator event stream: %s; resubscribing", why)
                self.client.metrics.stream_gaps.inc()
                self._stop.wait(self.retry_s)

    def _follow(self) -> None:
        timeout = SILENT_INTERVALS * self.picture.heartbeat_s
        sock, resp = self.client.open_stream({"type": "SUBSCRIBE"}, timeout)
        self._sock = sock
        try:
            decoder = Decoder()
            while not self._stop.is_set():
                data = resp.read1(1 << 20)
                if not data:
                    return
                for record in decoder.feed(data):
                    try:
                        event = orjson.loads(record)
                    except ValueError as error:
                        raise StreamGapError(f"an event that is not JSON: {error}") from error
                    self.picture.apply(event)
                    if event.get("type") == "SUBSCRIBED":
                        sock.settimeout(SILENT_INTERVALS * self.picture.heartbeat_s)
        finally:
            self._sock = None
            resp.close()
            sock.close()


def _shut(sock: socket.socket | None) -> None:
    """End a blocking read on `sock` from another thread."""
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def wait_fresh(watch: ClusterWatch, timeout_s: float) -> bool:
    """Until the picture is fresh (tests and start-up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if watch.picture.fresh:
            return True
        time.sleep(0.01)
    return watch.picture.fresh
