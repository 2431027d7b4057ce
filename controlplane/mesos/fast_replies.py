"""The fast path of `replies.read_state`: the same records from a well-formed GET_STATE,
with none of the strict reader's per-element bookkeeping.

The strict reader names the path of whatever is wrong, which costs a path string and a
helper call per element (half a million calls at 10,000 agents). Here each element is
checked as strictly (types, finite non-negative amounts, non-empty ids, known drain
states) but inline, and the first irregularity raises `IrregularError`: the caller then runs the
strict reader on the same reply, which either names the problem exactly as before or, if
this path was only more particular than it, gives the records. Nothing this path accepts
is refused by the strict one, so the two never disagree on a reply it accepts.
"""

from __future__ import annotations

import math
from typing import Any

from controlplane.mesos.replies import AgentView, TaskView


class IrregularError(Exception):
    """Something the fast path does not read; the strict reader decides."""


def fast_state(reply: Any, *, completed: bool) -> tuple[list[AgentView], list[TaskView]]:
    """GET_STATE into records, or `IrregularError` (also for any KeyError/TypeError inside)."""
    try:
        return _state(reply, completed)
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise IrregularError(str(error)) from error


def _state(reply: Any, completed: bool) -> tuple[list[AgentView], list[TaskView]]:
    if type(reply) is not dict or reply.get("type") != "GET_STATE":
        raise IrregularError("not a GET_STATE reply")
    state = _dict(reply["get_state"])
    tasks_obj = _dict(state["get_tasks"])
    tasks: list[TaskView] = []
    for key in ("tasks", "completed_tasks") if completed else ("tasks",):
        for raw in _list(tasks_obj.get(key, [])):
            tasks.append(_task(raw))
    by_agent: dict[str, list[TaskView]] = {}
    for task in tasks:
        if task.live:
            by_agent.setdefault(task.agent_id, []).append(task)
    agents_obj = _dict(state["get_agents"])
    agents = [_agent(raw, by_agent) for raw in _list(agents_obj.get("agents", []))]
    return agents, tasks


def _task(raw: Any) -> TaskView:
    task = _dict(raw)
    labels: dict[str, str] = {}
    if "labels" in task:
        for label in _list(_dict(task["labels"]).get("labels", [])):
            key = _dict(label)["key"]
            if type(key) is not str:
                raise IrregularError("label key")
            labels[key] = str(label.get("value", ""))
    state = task["state"]
    if type(state) is not str:
        raise IrregularError("task state")
    started = None
    if "statuses" in task:
        for status in _list(task["statuses"]):
            if _dict(status).get("state") == "TASK_RUNNING" and "timestamp" in status:
                at = _number(status["timestamp"])
                started = at if started is None or at < started else started
    return TaskView(
        id=_id(task["task_id"]),
        name=str(task.get("name", "")),
        framework_id=_id(task["framework_id"]),
        agent_id=_id(task["agent_id"]),
        state=state,
        resources=_resources(task.get("resources", [])),
        labels=labels,
        started_at=started,
    )


def _agent(raw: Any, by_agent: dict[str, list[TaskView]]) -> AgentView:
    agent = _dict(raw)
    info = _dict(agent["agent_info"])
    agent_id = _id(info["id"])
    drain = _dict(agent.get("drain_info", {}))
    drain_state = drain.get("state")
    if drain_state not in (None, "DRAINING", "DRAINED"):
        raise IrregularError("drain state")
    hostname = info["hostname"]
    if type(hostname) is not str:
        raise IrregularError("hostname")
    active = agent.get("active", True)
    if type(active) is not bool:
        raise IrregularError("active")
    total = agent["total_resources"] if "total_resources" in agent else info.get("resources", [])
    return AgentView(
        id=agent_id,
        hostname=hostname,
        attributes=_attributes(info.get("attributes", [])),
        total=_resources(total),
        used=_resources(agent.get("allocated_resources", [])),
        offered=_resources(agent.get("offered_resources", [])),
        active=active,
        drain_state=drain_state,
        tasks=tuple(sorted(by_agent.get(agent_id, []), key=_task_id)),
    )


def _task_id(task: TaskView) -> str:
    return task.id


def _resources(items: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for raw in _list(items):
        res = _dict(raw)
        name = res["name"]
        if type(name) is not str:
            raise IrregularError("resource name")
        if res.get("type", "SCALAR") != "SCALAR":
            continue
        amount = _number(_dict(res["scalar"])["value"])
        if amount < 0:
            raise IrregularError("negative amount")
        out[name] = out.get(name, 0.0) + amount
    return out


def _attributes(items: Any) -> dict[str, str | float]:
    out: dict[str, str | float] = {}
    for raw in _list(items):
        attr = _dict(raw)
        name = attr["name"]
        if type(name) is not str:
            raise IrregularError("attribute name")
        kind = attr["type"]
        if kind == "TEXT":
            text = _dict(attr["text"])["value"]
            if type(text) is not str:
                raise IrregularError("attribute text")
            out[name] = text
        elif kind == "SCALAR":
            out[name] = _number(_dict(attr["scalar"])["value"])
    return out


def _id(raw: Any) -> str:
    text = _dict(raw)["value"]
    if type(text) is not str or not text:
        raise IrregularError("id")
    return text


def _number(value: Any) -> float:
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            raise IrregularError("not finite")
        return value  # type: ignore[no-any-return]
    if kind is int:
        return float(value)
    raise IrregularError("not a number")


def _dict(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise IrregularError("not an object")
    return value


def _list(value: Any) -> list[Any]:
    if type(value) is not list:
        raise IrregularError("not an array")
    return value
