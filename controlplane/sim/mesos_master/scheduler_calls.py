"""Scheduler API calls (`POST /api/v1/scheduler`, non-SUBSCRIBE): validated, then applied.

The master's checks come first, in its order (unknown framework 400, not subscribed 403,
missing or stale stream id 400, a malformed call 400), so a framework bug shows up as the
status code a real master would give, not as silent success.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from controlplane.sim.mesos_master import call_shapes
from controlplane.sim.mesos_master.core import MasterCore
from controlplane.sim.mesos_master.errors import CallError
from controlplane.sim.mesos_master.state import JSON, Scalars, SimAgent, SimTask, fits, subtract

#: Mesos's default `refuse_seconds` when a call gives no filters.
DEFAULT_REFUSE_S = 5.0
#: Calls whose sub-object is required, and its field name.
_REQUIRED = {
    "ACCEPT": "accept",
    "DECLINE": "decline",
    "KILL": "kill",
    "ACKNOWLEDGE": "acknowledge",
    "RECONCILE": "reconcile",
    "SHUTDOWN": "shutdown",
    "MESSAGE": "message",
}
CALL_TYPES = frozenset(
    {"SUBSCRIBE", "TEARDOWN", "REVIVE", "SUPPRESS", "REQUEST", "UPDATE_FRAMEWORK"} | set(_REQUIRED)
)


def validate_call(call: Any) -> str:
    """The call's type, after the structural checks every call gets (400 otherwise)."""
    if not isinstance(call, dict):
        raise CallError(400, "Failed to parse body into Call: not a JSON object")
    kind = call.get("type")
    if kind not in CALL_TYPES:
        raise CallError(400, f"Failed to parse body into Call: unknown 'type' {kind!r}")
    call_shapes.check(call, call_shapes.SCHEDULER_CALL)
    if kind != "SUBSCRIBE" and not _value(call.get("framework_id")):
        raise CallError(400, "Expecting 'framework_id' to be present")
    field = _REQUIRED.get(kind)
    if field is not None and not isinstance(call.get(field), dict):
        raise CallError(400, f"Expecting '{field}' to be present")
    return str(kind)


def handle(core: MasterCore, call: JSON, stream_id: str | None) -> None:
    """Apply one validated non-SUBSCRIBE call, or raise `CallError`."""
    kind = validate_call(call)
    framework_id = _value(call["framework_id"])
    with core.locked():
        fw = core.frameworks.get(framework_id)
        if fw is None:
            raise CallError(400, f"Framework '{framework_id}' cannot be found")
        if fw.stream is None or fw.stream.closed:
            raise CallError(403, "Framework is not subscribed")
        if not stream_id:
            raise CallError(
                400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
            )
        if stream_id != fw.stream.stream_id:
            raise CallError(
                400,
                f"The stream ID '{stream_id}' included in this request didn't match the "
                f"stream ID currently associated with framework ID {framework_id}",
            )
        if kind == "TEARDOWN":
            core.remove_framework(framework_id)
        elif kind == "ACCEPT":
            _accept(core, framework_id, call["accept"])
        elif kind == "DECLINE":
            decline = call["decline"]
            refuse = _refuse_seconds(decline)
            for offer_id in _ids(decline.get("offer_ids")):
                offer = core.offers.get(offer_id)
                if offer is not None and offer.framework_id == framework_id:
                    core.recover(offer, refuse)
        elif kind == "REVIVE":
            core.revive(framework_id)
        elif kind == "SUPPRESS":
            fw.suppressed = True
        elif kind == "KILL":
            core.kill(framework_id, _required_value(call["kill"], "task_id"))
        elif kind == "ACKNOWLEDGE":
            fw.unacked.discard(_acknowledge(call["acknowledge"]))
        elif kind == "RECONCILE":
            _reconcile(core, framework_id, call["reconcile"])
        elif kind == "SUBSCRIBE":
            raise CallError(400, "SUBSCRIBE on a non-streaming path")
        # REQUEST, MESSAGE, SHUTDOWN and UPDATE_FRAMEWORK are accepted and have no effect.


def _accept(core: MasterCore, framework_id: str, accept: JSON) -> None:
    operations = accept.get("operations", [])
    if not isinstance(operations, list):
        raise CallError(400, "Failed to parse body into Call: 'operations' is not an array")
    for op in operations:
        kind = op.get("type") if isinstance(op, dict) else None
        if kind != "LAUNCH" or not isinstance(op.get("launch"), dict):
            raise CallError(400, f"Operation {kind!r} is not supported by this emulator")
    task_infos: list[JSON] = [ti for op in operations for ti in op["launch"].get("task_infos", [])]
    offer_ids = _ids(accept.get("offer_ids"))
    offers = [core.offers.get(i) for i in offer_ids]
    agents = {o.agent_id for o in offers if o is not None}
    valid = (
        bool(offer_ids)
        and all(o is not None and o.framework_id == framework_id for o in offers)
        and len(agents) == 1
        and len(set(offer_ids)) == len(offer_ids)
    )
    if not valid:
        for offer in offers:
            if offer is not None and offer.framework_id == framework_id:
                core.recover(offer, 0.0)
        for info in task_infos:
            _fail(
                core,
                framework_id,
                info,
                "TASK_LOST",
                "REASON_INVALID_OFFERS",
                "Task launched with invalid offers",
            )
        return
    agent = core.agents[agents.pop()]
    pool: Scalars = {}
    for offer in offers:
        assert offer is not None
        pool = {
            n: pool.get(n, 0.0) + offer.resources.get(n, 0.0)
            for n in set(pool) | set(offer.resources)
        }
        core.offers.pop(offer.id)
    for info in task_infos:
        problem, task = _task(core, framework_id, agent, info, pool)
        if task is None:
            _fail(core, framework_id, info, "TASK_ERROR", "REASON_TASK_INVALID", problem)
            continue
        pool = subtract(pool, task.resources)
        core.launch(agent, task)
    refuse = _refuse_seconds(accept)
    if any(v > 1e-9 for v in pool.values()) and refuse > 0:
        core.frameworks[framework_id].filters[agent.id] = core.now() + refuse
    core.request_allocation()


def _task(
    core: MasterCore, framework_id: str, agent: SimAgent, info: Any, pool: Scalars
) -> tuple[str, SimTask | None]:
    if not isinstance(info, dict):
        return "TaskInfo is not an object", None
    task_id = _value(info.get("task_id"))
    if not task_id:
        return "Task has no task_id", None
    if core.find_task(framework_id, task_id) is not None:
        return f"Task has duplicate ID: {task_id}", None
    if _value(info.get("agent_id")) != agent.id:
        return f"Task uses agent {_value(info.get('agent_id'))!r}, not the offer's {agent.id}", None
    if "command" not in info and "executor" not in info:
        return "Task should have at least one (but not both) of CommandInfo or ExecutorInfo", None
    resources: Scalars = {}
    for res in info.get("resources", []):
        if not isinstance(res, dict) or res.get("type", "SCALAR") != "SCALAR":
            return "only SCALAR resources are emulated", None
        amount = res.get("scalar", {}).get("value")
        if not isinstance(amount, int | float) or amount < 0 or not res.get("name"):
            return f"bad resource {res!r}", None
        resources[res["name"]] = resources.get(res["name"], 0.0) + float(amount)
    if not resources:
        return "Task uses no resources", None
    if not fits(resources, pool):
        return f"Task uses more resources {resources} than available {pool}", None
    labels = {
        str(lab.get("key")): str(lab.get("value", ""))
        for lab in info.get("labels", {}).get("labels", [])
        if isinstance(lab, dict)
    }
    ends_at = None
    if "duration_s" in labels:
        try:
            duration = float(labels["duration_s"])
        except ValueError:
            return f"label duration_s {labels['duration_s']!r} is not a number", None
        if not duration >= 0:
            return f"label duration_s {labels['duration_s']!r} must be >= 0", None
        ends_at = core.now() + duration
    outcome = "TASK_FAILED" if labels.get("outcome") == "failed" else "TASK_FINISHED"
    name = str(info.get("name", task_id))
    task = SimTask(task_id, name, framework_id, agent.id, resources, labels, core.now(), ends_at)
    task.outcome = outcome
    return "", task


def _fail(
    core: MasterCore, framework_id: str, info: Any, state: str, reason: str, message: str
) -> None:
    task_id = _value(info.get("task_id")) if isinstance(info, dict) else ""
    agent_id = _value(info.get("agent_id")) if isinstance(info, dict) else ""
    task = SimTask(task_id, "", framework_id, agent_id, {}, {}, core.now(), None, state=state)
    core.send_update(framework_id, core.status(task, reason, message, from_agent=False))


def _acknowledge(ack: JSON) -> str:
    """The acknowledged update's uuid, after checking the call names one."""
    for field in ("agent_id", "task_id"):
        _required_value(ack, field)
    raw = ack.get("uuid")
    try:
        decoded = base64.b64decode(str(raw), validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != 16:
        raise CallError(400, f"Failed to parse body into Call: 'uuid' {raw!r} is not a UUID")
    return str(raw)


def _reconcile(core: MasterCore, framework_id: str, reconcile: JSON) -> None:
    wanted = [_value(t.get("task_id")) for t in reconcile.get("tasks", []) if isinstance(t, dict)]
    live = {
        t.task_id: t
        for a in core.agents.values()
        for t in a.tasks.values()
        if t.framework_id == framework_id
    }
    ids = wanted or sorted(live)
    for task_id in ids:
        task = live.get(task_id)
        if task is None:
            task = SimTask(task_id, "", framework_id, "", {}, {}, core.now(), None)
            task.state = "TASK_LOST"
        status = core.status(task, "REASON_RECONCILIATION", None, from_agent=False)
        if not task.agent_id:
            status.pop("agent_id")
        core.send_update(framework_id, status)


def _refuse_seconds(obj: JSON) -> float:
    filters = obj.get("filters")
    if filters is None:
        return DEFAULT_REFUSE_S
    refuse = filters.get("refuse_seconds", DEFAULT_REFUSE_S) if isinstance(filters, dict) else None
    if isinstance(refuse, bool) or not isinstance(refuse, int | float):
        raise CallError(400, f"Failed to parse body into Call: bad refuse_seconds {refuse!r}")
    return max(0.0, float(refuse))


def _value(obj: Any) -> str:
    if isinstance(obj, dict) and isinstance(obj.get("value"), str):
        return str(obj["value"])
    return ""


def _required_value(obj: JSON, field: str) -> str:
    text = _value(obj.get(field))
    if not text:
        raise CallError(400, f"Expecting '{field}' to be present")
    return text


def _ids(items: Any) -> list[str]:
    if not isinstance(items, list):
        raise CallError(400, "Failed to parse body into Call: 'offer_ids' is not an array")
    return [_value(i) for i in items]
