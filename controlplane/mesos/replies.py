"""Reading operator API replies into plain records, refusing anything malformed.

A reply missing a field or holding a wrong type raises `MalformedReplyError` naming the
path of the problem (`get_state.get_agents.agents[2].agent_info.id`); nothing half-read
ever reaches a snapshot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: Task states after which a task holds no resources on its agent.
TERMINAL_STATES = frozenset(
    {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED"}
    | {"TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"}
)


class MesosError(Exception):
    """The master refused a call or could not be reached; the message says which."""


class MalformedReplyError(MesosError):
    """The master's reply does not have the shape the v1 API promises."""


@dataclass(frozen=True)
class TaskView:
    id: str
    name: str
    framework_id: str
    agent_id: str
    state: str
    resources: dict[str, float]
    labels: dict[str, str]
    #: When the task started running (its TASK_RUNNING status), seconds since the epoch.
    started_at: float | None = None

    @property
    def live(self) -> bool:
        return self.state not in TERMINAL_STATES


@dataclass(frozen=True)
class AgentView:
    """One agent as the operator API shows it, with its live tasks attached."""

    id: str
    hostname: str
    attributes: dict[str, str | float]
    total: dict[str, float]
    used: dict[str, float]
    offered: dict[str, float]
    active: bool
    drain_state: str | None  # DRAINING | DRAINED | None
    tasks: tuple[TaskView, ...]


class _Reader:
    """Typed field access that names the path of whatever is wrong."""

    def __init__(self, call: str) -> None:
        self.call = call

    def fail(self, path: str, problem: str) -> MalformedReplyError:
        return MalformedReplyError(f"{self.call} reply: {path}: {problem}")

    def obj(self, data: Any, path: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(path, f"expected an object, got {type(data).__name__}")
        return data

    def field(self, data: dict[str, Any], key: str, path: str, *, default: Any = ...) -> Any:
        if key not in data:
            if default is ...:
                raise self.fail(f"{path}.{key}", "missing")
            return default
        return data[key]

    def items(self, data: dict[str, Any], key: str, path: str) -> list[Any]:
        value = self.field(data, key, path, default=[])
        if not isinstance(value, list):
            raise self.fail(f"{path}.{key}", "expected an array")
        return value

    def text(self, data: dict[str, Any], key: str, path: str) -> str:
        value = self.field(data, key, path)
        if not isinstance(value, str):
            raise self.fail(f"{path}.{key}", f"expected a string, got {value!r}")
        return value

    def id_value(self, data: dict[str, Any], key: str, path: str) -> str:
        inner = self.obj(self.field(data, key, path), f"{path}.{key}")
        text = self.text(inner, "value", f"{path}.{key}")
        if not text:
            raise self.fail(f"{path}.{key}.value", "empty id")
        return text

    def boolean(self, data: dict[str, Any], key: str, path: str, default: bool) -> bool:
        value = self.field(data, key, path, default=default)
        if not isinstance(value, bool):
            raise self.fail(f"{path}.{key}", f"expected true or false, got {value!r}")
        return value

    def number(self, data: Any, path: str) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float) or not math.isfinite(data):
            raise self.fail(path, f"expected a finite number, got {data!r}")
        return float(data)

    def resources(self, data: dict[str, Any], key: str, path: str) -> dict[str, float]:
        """Scalar resources summed by name; RANGES and SET resources are not capacity here."""
        out: dict[str, float] = {}
        for i, raw_res in enumerate(self.items(data, key, path)):
            where = f"{path}.{key}[{i}]"
            res = self.obj(raw_res, where)
            name = self.text(res, "name", where)
            if self.field(res, "type", where, default="SCALAR") != "SCALAR":
                continue
            scalar = self.obj(self.field(res, "scalar", where), f"{where}.scalar")
            amount = self.number(
                self.field(scalar, "value", f"{where}.scalar"), f"{where}.scalar.value"
            )
            if amount < 0:
                raise self.fail(where, f"negative amount {amount}")
            out[name] = out.get(name, 0.0) + amount
        return out

    def attributes(self, data: dict[str, Any], key: str, path: str) -> dict[str, str | float]:
        out: dict[str, str | float] = {}
        for i, raw_attr in enumerate(self.items(data, key, path)):
            where = f"{path}.{key}[{i}]"
            attr = self.obj(raw_attr, where)
            name = self.text(attr, "name", where)
            kind = self.field(attr, "type", where)
            if kind == "TEXT":
                text = self.obj(self.field(attr, "text", where), f"{where}.text")
                out[name] = self.text(text, "value", f"{where}.text")
            elif kind == "SCALAR":
                scalar = self.obj(self.field(attr, "scalar", where), f"{where}.scalar")
                value = self.field(scalar, "value", f"{where}.scalar")
                out[name] = self.number(value, f"{where}.scalar.value")
            # RANGES and SET attributes carry no value a constraint compares.
        return out


def read_tasks(reply: Any, call: str, path: str, *, completed: bool = True) -> list[TaskView]:
    """Live (and, with `completed`, completed) tasks from a `get_tasks` object at `path`.

    A master keeps up to 1,000 completed tasks per framework: a caller that needs only live
    ones skips reading them (they were most of the parsing time of a pass)."""
    r = _Reader(call)
    body = r.obj(reply, path)
    out: list[TaskView] = []
    for list_key in ("tasks", "completed_tasks") if completed else ("tasks",):
        for i, raw_task in enumerate(r.items(body, list_key, path)):
            where = f"{path}.{list_key}[{i}]"
            task = r.obj(raw_task, where)
            labels_obj = r.obj(r.field(task, "labels", where, default={}), f"{where}.labels")
            labels = {}
            for j, raw_label in enumerate(r.items(labels_obj, "labels", f"{where}.labels")):
                label = r.obj(raw_label, f"{where}.labels.labels[{j}]")
                labels[r.text(label, "key", f"{where}.labels.labels[{j}]")] = str(
                    label.get("value", "")
                )
            out.append(
                TaskView(
                    id=r.id_value(task, "task_id", where),
                    name=str(task.get("name", "")),
                    framework_id=r.id_value(task, "framework_id", where),
                    agent_id=r.id_value(task, "agent_id", where),
                    state=r.text(task, "state", where),
                    resources=r.resources(task, "resources", where),
                    labels=labels,
                    started_at=_started(r, task, where),
                )
            )
    return out


def _started(r: _Reader, task: dict[str, Any], where: str) -> float | None:
    """The earliest TASK_RUNNING status timestamp (a master keeps the last few statuses)."""
    times = []
    for k, raw in enumerate(r.items(task, "statuses", where) if "statuses" in task else []):
        status = r.obj(raw, f"{where}.statuses[{k}]")
        if status.get("state") == "TASK_RUNNING" and "timestamp" in status:
            times.append(r.number(status["timestamp"], f"{where}.statuses[{k}].timestamp"))
    return min(times) if times else None


def read_agents(reply: Any, call: str, path: str, tasks: list[TaskView]) -> list[AgentView]:
    """Agents from a `get_agents` object at `path`, each with its live tasks."""
    r = _Reader(call)
    body = r.obj(reply, path)
    by_agent: dict[str, list[TaskView]] = {}
    for task in tasks:
        if task.live:
            by_agent.setdefault(task.agent_id, []).append(task)
    out: list[AgentView] = []
    for i, raw_agent in enumerate(r.items(body, "agents", path)):
        where = f"{path}.agents[{i}]"
        agent = r.obj(raw_agent, where)
        info = r.obj(r.field(agent, "agent_info", where), f"{where}.agent_info")
        agent_id = r.id_value(info, "id", f"{where}.agent_info")
        drain = r.obj(r.field(agent, "drain_info", where, default={}), f"{where}.drain_info")
        drain_state = drain.get("state")
        if drain_state not in (None, "DRAINING", "DRAINED"):
            raise r.fail(f"{where}.drain_info.state", f"unknown drain state {drain_state!r}")
        total_key = "total_resources" if "total_resources" in agent else None
        out.append(
            AgentView(
                id=agent_id,
                hostname=r.text(info, "hostname", f"{where}.agent_info"),
                attributes=r.attributes(info, "attributes", f"{where}.agent_info"),
                total=r.resources(agent, total_key, where)
                if total_key
                else r.resources(info, "resources", f"{where}.agent_info"),
                used=r.resources(agent, "allocated_resources", where),
                offered=r.resources(agent, "offered_resources", where),
                active=r.boolean(agent, "active", where, True),
                drain_state=drain_state,
                tasks=tuple(sorted(by_agent.get(agent_id, []), key=lambda t: t.id)),
            )
        )
    return out


def read_state(reply: Any, *, completed: bool = True) -> tuple[list[AgentView], list[TaskView]]:
    """GET_STATE: agents with their tasks, and every task the master reports (completed
    ones only with `completed`). A well-formed reply is read on the fast path
    (`fast_replies`); anything it does not read goes to the strict reader, whose errors
    name the path of the problem."""
    from controlplane.mesos.fast_replies import IrregularError, fast_state  # noqa: PLC0415

    try:
        return fast_state(reply, completed=completed)
    except IrregularError:
        return strict_state(reply, completed=completed)


def strict_state(reply: Any, *, completed: bool = True) -> tuple[list[AgentView], list[TaskView]]:
    """`read_state` on the strict reader alone."""
    r = _Reader("GET_STATE")
    top = r.obj(reply, "reply")
    if top.get("type") != "GET_STATE":
        raise r.fail("type", f"expected GET_STATE, got {top.get('type')!r}")
    state = r.obj(r.field(top, "get_state", "reply"), "get_state")
    tasks = read_tasks(
        r.field(state, "get_tasks", "get_state"),
        "GET_STATE",
        "get_state.get_tasks",
        completed=completed,
    )
    agents = read_agents(
        r.field(state, "get_agents", "get_state"), "GET_STATE", "get_state.get_agents", tasks
    )
    return agents, tasks
