"""Type checks of call bodies, standing in for the master's JSON-to-protobuf parse.

A real master refuses `{"offer_ids": "O1"}` with 400 before looking at what the call means;
checking shapes first also means a handler never half-applies a call and then trips over a
wrong type. Unknown fields pass, as they do in the master's parser; required fields are
checked by the handlers with the master's own messages.
"""

from __future__ import annotations

from typing import Any

from controlplane.sim.mesos_master.errors import CallError

#: A shape is "str", "num", "bool", "obj" (any object), a dict of field shapes, or a
#: one-element list holding the shape of every element.
Shape = Any

ID: Shape = {"value": "str"}
FILTERS: Shape = {"refuse_seconds": "num"}
DURATION: Shape = {"seconds": "num", "nanos": "num"}
FRAMEWORK_INFO: Shape = {
    "user": "str", "name": "str", "id": ID, "failover_timeout": "num", "checkpoint": "bool",
    "hostname": "str", "principal": "str", "role": "str", "roles": ["str"],
    "capabilities": [{"type": "str"}],
}  # fmt: skip
SCHEDULER_CALL: Shape = {
    "type": "str",
    "framework_id": ID,
    "subscribe": {"framework_info": FRAMEWORK_INFO, "suppressed_roles": ["str"]},
    "accept": {
        "offer_ids": [ID],
        "operations": [{"type": "str", "launch": {"task_infos": ["obj"]}}],
        "filters": FILTERS,
    },
    "decline": {"offer_ids": [ID], "filters": FILTERS},
    "revive": {"roles": ["str"]},
    "suppress": {"roles": ["str"]},
    "kill": {"task_id": ID, "agent_id": ID},
    "acknowledge": {"agent_id": ID, "task_id": ID, "uuid": "str"},
    "reconcile": {"tasks": [{"task_id": ID, "agent_id": ID}]},
}
_AGENT: Shape = {"agent_id": ID}
OPERATOR_CALL: Shape = {
    "type": "str",
    "drain_agent": {"agent_id": ID, "max_grace_period": DURATION, "mark_gone": "bool"},
    "deactivate_agent": _AGENT,
    "reactivate_agent": _AGENT,
    "mark_agent_gone": _AGENT,
}


def check(data: Any, shape: Shape, path: str = "") -> None:
    """Raise CallError(400) naming the first field whose JSON type does not fit."""
    problem = _mismatch(data, shape, path)
    if problem is not None:
        raise CallError(400, f"Failed to parse body into Call: {problem}")


def _mismatch(data: Any, shape: Shape, path: str) -> str | None:
    where = path or "body"
    if isinstance(shape, dict):
        if not isinstance(data, dict):
            return f"'{where}' is not an object"
        for name, inner in shape.items():
            if name in data:
                found = _mismatch(data[name], inner, f"{path}.{name}" if path else name)
                if found is not None:
                    return found
        return None
    if isinstance(shape, list):
        if not isinstance(data, list):
            return f"'{where}' is not an array"
        for i, item in enumerate(data):
            found = _mismatch(item, shape[0], f"{where}[{i}]")
            if found is not None:
                return found
        return None
    ok = {
        "str": isinstance(data, str),
        "num": isinstance(data, int | float) and not isinstance(data, bool),
        "bool": isinstance(data, bool),
        "obj": isinstance(data, dict),
    }[shape]
    if ok:
        return None
    noun = {"str": "a string", "num": "a number", "bool": "a boolean", "obj": "an object"}[shape]
    return f"'{where}' is not {noun}"
