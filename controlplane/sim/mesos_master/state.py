"""The emulated master's records (agents, tasks, offers, frameworks) and their wire form.

Plain data with no locking of their own: `MasterCore` owns every instance and guards them
with its one lock. Resources are scalar only (`cpus`, `mem`, `disk`, `gpus`, ...): the
planner thinks in scalars, and RANGES/SET accounting would buy the tests nothing.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from controlplane.mesos.recordio import encode

JSON = dict[str, Any]
Scalars = dict[str, float]
#: Smallest offer worth making (Mesos's default min allocatable resources).
MIN_OFFER = {"cpus": 0.01, "mem": 32.0}
#: What a fresh framework is told about heartbeats (Mesos's fixed value).
HEARTBEAT_INTERVAL_S = 15.0
#: Status updates kept for a disconnected framework at most (oldest kept, like a full agent).
MAX_BACKLOG = 10_000
#: Task states after which a task holds no resources.
TERMINAL = frozenset(
    {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED"}
    | {"TASK_GONE", "TASK_GONE_BY_OPERATOR"}
)


@dataclass
class SimTask:
    task_id: str
    name: str
    framework_id: str
    agent_id: str
    resources: Scalars
    labels: dict[str, str]
    started: float
    ends_at: float | None
    outcome: str = "TASK_FINISHED"
    state: str = "TASK_STAGING"
    statuses: list[JSON] = field(default_factory=list)


@dataclass
class SimAgent:
    id: str
    hostname: str
    total: Scalars
    attributes: dict[str, str | float]
    registered: float
    port: int = 5051
    active: bool = True
    drain_state: str | None = None  # DRAINING | DRAINED
    drain_deadline: float | None = None
    drain_grace_s: float | None = None
    mark_gone: bool = False
    tasks: dict[tuple[str, str], SimTask] = field(default_factory=dict)

    def allocated(self) -> Scalars:
        return add_all(t.resources for t in self.tasks.values())


@dataclass
class Offer:
    id: str
    framework_id: str
    agent_id: str
    resources: Scalars
    created: float


class EventStream:
    """Events queued for one subscribed framework's HTTP connection (thread-safe)."""

    def __init__(self) -> None:
        self.stream_id = str(uuid.uuid4())
        self._events: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._closed = False
        #: Changes (events other than heartbeats) sent on an operator stream since SUBSCRIBED.
        self.changes = 0

    def put(self, event: JSON) -> None:
        data = encode(json.dumps(event, separators=(",", ":")).encode("utf-8"))
        with self._cond:
            if not self._closed:
                self._events.append(data)
                self._cond.notify_all()

    def close(self) -> None:
        """End the stream once the queued events are written."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def take(self, timeout: float) -> list[bytes] | None:
        """Queued records (maybe none after `timeout`), or None once closed and drained."""
        with self._cond:
            if not self._events and not self._closed:
                self._cond.wait(timeout)
            if self._events:
                out = list(self._events)
                self._events.clear()
                return out
            return None if self._closed else []


@dataclass
class Framework:
    id: str
    info: JSON
    registered: float
    failover_timeout_s: float
    stream: EventStream | None = None
    suppressed: bool = False
    filters: dict[str, float] = field(default_factory=dict)  # agent id -> refused until
    next_heartbeat: float = 0.0
    disconnected_at: float | None = None
    backlog: list[JSON] = field(default_factory=list)  # updates kept while disconnected
    #: uuids of agent updates sent and not yet acknowledged (Mesos holds these for retry).
    unacked: set[str] = field(default_factory=set)

    def send(self, event: JSON) -> None:
        if event.get("type") == "UPDATE":
            uuid_ = event["update"]["status"].get("uuid")
            if uuid_ is not None and len(self.unacked) < MAX_BACKLOG:
                self.unacked.add(str(uuid_))
        if self.stream is not None and not self.stream.closed:
            self.stream.put(event)
        elif event.get("type") == "UPDATE" and len(self.backlog) < MAX_BACKLOG:
            self.backlog.append(event)


# ---- scalar arithmetic ------------------------------------------------------------------


def add_all(vectors: Any) -> Scalars:
    out: Scalars = {}
    for vec in vectors:
        for name, amount in vec.items():
            out[name] = out.get(name, 0.0) + amount
    return out


def subtract(a: Scalars, b: Scalars) -> Scalars:
    return {n: a.get(n, 0.0) - b.get(n, 0.0) for n in set(a) | set(b)}


def fits(need: Scalars, free: Scalars) -> bool:
    return all(amount <= free.get(name, 0.0) + 1e-9 for name, amount in need.items())


def worth_offering(free: Scalars) -> bool:
    return any(free.get(name, 0.0) >= least for name, least in MIN_OFFER.items())


def positive(vec: Scalars) -> Scalars:
    return {n: round(v, 9) for n, v in vec.items() if v > 1e-9}


# ---- wire form ------------------------------------------------------------------------


def resources_json(vec: Scalars) -> list[JSON]:
    return [
        {"name": name, "type": "SCALAR", "scalar": {"value": round(amount, 9)}, "role": "*"}
        for name, amount in sorted(vec.items())
        if amount > 1e-9
    ]


def attributes_json(attrs: dict[str, str | float]) -> list[JSON]:
    out: list[JSON] = []
    for name, value in sorted(attrs.items()):
        if isinstance(value, str):
            out.append({"name": name, "type": "TEXT", "text": {"value": value}})
        else:
            out.append({"name": name, "type": "SCALAR", "scalar": {"value": float(value)}})
    return out


def value(text: str) -> JSON:
    return {"value": text}


def nanos(seconds: float) -> JSON:
    return {"nanoseconds": round(seconds * 1e9)}


def new_uuid() -> str:
    """A status update uuid as the JSON mapping of `bytes` gives it: base64."""
    return base64.b64encode(uuid.uuid4().bytes).decode("ascii")


def offer_json(offer: Offer, agent: SimAgent) -> JSON:
    return {
        "id": value(offer.id),
        "framework_id": value(offer.framework_id),
        "agent_id": value(agent.id),
        "hostname": agent.hostname,
        "url": {
            "scheme": "http",
            "address": {"hostname": agent.hostname, "ip": "127.0.0.1", "port": agent.port},
            "path": "/slave(1)",
        },
        "resources": resources_json(offer.resources),
        "attributes": attributes_json(agent.attributes),
        "allocation_info": {"role": "*"},
    }


def agent_json(agent: SimAgent, offered: Scalars) -> JSON:
    """One agent as GET_AGENTS (and the operator event stream) shows it."""
    out: JSON = {
        "agent_info": {
            "hostname": agent.hostname,
            "port": agent.port,
            "id": value(agent.id),
            "resources": resources_json(agent.total),
            "attributes": attributes_json(agent.attributes),
        },
        "active": agent.active,
        "deactivated": not agent.active,
        "version": "1.11.0",
        "pid": f"slave(1)@127.0.0.1:{agent.port}",
        "registered_time": nanos(agent.registered),
        "total_resources": resources_json(agent.total),
        "allocated_resources": resources_json(agent.allocated()),
        "offered_resources": resources_json(offered),
        "capabilities": [],
    }
    if agent.drain_state is not None:
        config: JSON = {"mark_gone": agent.mark_gone}
        if agent.drain_grace_s is not None:
            config["max_grace_period"] = nanos(agent.drain_grace_s)
        out["drain_info"] = {"state": agent.drain_state, "config": config}
    return out


def task_json(task: SimTask) -> JSON:
    out: JSON = {
        "name": task.name,
        "task_id": value(task.task_id),
        "framework_id": value(task.framework_id),
        "agent_id": value(task.agent_id),
        "state": task.state,
        "resources": resources_json(task.resources),
        "statuses": task.statuses[-5:],
    }
    if task.labels:
        out["labels"] = {"labels": [{"key": k, "value": v} for k, v in task.labels.items()]}
    return out
