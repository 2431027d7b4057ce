"""Operator API (`POST /api/v1`) and the legacy `/master/state`: views and agent actions.

Replies follow the v1 proto nesting (`get_agents.agents[].agent_info`, durations as
`{"nanoseconds": N}`) so a client written against a real master reads them unchanged.
"""

from __future__ import annotations

from typing import Any

from controlplane.sim.mesos_master import call_shapes
from controlplane.sim.mesos_master.core import MasterCore
from controlplane.sim.mesos_master.errors import CallError
from controlplane.sim.mesos_master.state import (
    HEARTBEAT_INTERVAL_S,
    JSON,
    EventStream,
    agent_json,
    nanos,
    task_json,
    value,
)

OPERATOR_CALLS = frozenset(
    {"GET_AGENTS", "GET_TASKS", "GET_FRAMEWORKS", "GET_STATE", "GET_VERSION", "GET_HEALTH"}
    | {"SUBSCRIBE"}
    | {"DRAIN_AGENT", "DEACTIVATE_AGENT", "REACTIVATE_AGENT", "MARK_AGENT_GONE"}
)
#: Calls that change the cluster: they answer 200 with an empty body.
_ACTIONS = {
    "DRAIN_AGENT": "drain_agent",
    "DEACTIVATE_AGENT": "deactivate_agent",
    "REACTIVATE_AGENT": "reactivate_agent",
    "MARK_AGENT_GONE": "mark_agent_gone",
}


def handle(core: MasterCore, call: Any) -> JSON | None:
    """Answer one operator call: a JSON reply, None for an empty 200, or `CallError`."""
    if not isinstance(call, dict):
        raise CallError(400, "Failed to parse body into Call: not a JSON object")
    kind = call.get("type")
    if kind not in OPERATOR_CALLS:
        raise CallError(400, f"Failed to parse body into Call: unknown 'type' {kind!r}")
    call_shapes.check(call, call_shapes.OPERATOR_CALL)
    if kind == "SUBSCRIBE":
        raise CallError(400, "SUBSCRIBE is a stream: the HTTP front serves it (`subscribe`)")
    with core.locked():
        if kind == "GET_AGENTS":
            return {"type": kind, "get_agents": agents_view(core)}
        if kind == "GET_TASKS":
            return {"type": kind, "get_tasks": tasks_view(core)}
        if kind == "GET_FRAMEWORKS":
            return {"type": kind, "get_frameworks": frameworks_view(core)}
        if kind == "GET_VERSION":
            return {"type": kind, "get_version": {"version_info": {"version": "1.11.0"}}}
        if kind == "GET_HEALTH":
            return {"type": kind, "get_health": {"healthy": True}}
        if kind == "GET_STATE":
            return {"type": kind, "get_state": state_view(core)}
        field = _ACTIONS[str(kind)]
        body = call.get(field)
        if not isinstance(body, dict):
            raise CallError(400, f"Expecting '{field}' to be present")
        agent_id = (
            body.get("agent_id", {}).get("value")
            if isinstance(body.get("agent_id"), dict)
            else None
        )
        if not isinstance(agent_id, str) or not agent_id:
            raise CallError(400, f"Expecting '{field}.agent_id' to be present")
        if kind == "MARK_AGENT_GONE":
            if agent_id not in core.gone_agents:
                core.remove_agent(_known(core, agent_id), by_operator=True)
        elif kind == "DEACTIVATE_AGENT":
            core.set_active(_known(core, agent_id), False)
        elif kind == "REACTIVATE_AGENT":
            core.set_active(_known(core, agent_id), True)
        else:
            core.drain_agent(_known(core, agent_id), _grace(body), body.get("mark_gone") is True)
        return None


def _known(core: MasterCore, agent_id: str) -> str:
    if agent_id not in core.agents:
        raise CallError(400, f"Agent {agent_id} not found")
    return agent_id


def _grace(body: JSON) -> float | None:
    grace = body.get("max_grace_period")
    if grace is None:
        return None
    # Types were checked by call_shapes: both parts are numbers when present.
    seconds = float(grace.get("seconds", 0)) + float(grace.get("nanos", 0)) / 1e9
    if seconds < 0:
        raise CallError(400, "'max_grace_period' must be non-negative")
    return seconds


def state_view(core: MasterCore) -> JSON:
    """GET_STATE's `get_state` (also the operator stream's SUBSCRIBED snapshot)."""
    return {
        "get_tasks": tasks_view(core),
        "get_executors": {"executors": []},
        "get_frameworks": frameworks_view(core),
        "get_agents": agents_view(core),
    }


def subscribe(core: MasterCore) -> EventStream:
    """The operator API's SUBSCRIBE: a stream that opens with SUBSCRIBED (the whole state)
    and a HEARTBEAT, then carries every TASK_ADDED, TASK_UPDATED, AGENT_ADDED and
    AGENT_REMOVED, and a HEARTBEAT every `HEARTBEAT_INTERVAL_S`. Taken under the core's
    lock, so nothing that happens between the snapshot and the first event is lost."""
    stream = EventStream()
    with core.locked():
        subscribed = {
            "get_state": state_view(core),
            "heartbeat_interval_seconds": HEARTBEAT_INTERVAL_S,
        }
        stream.put({"type": "SUBSCRIBED", "subscribed": subscribed})
        stream.put({"type": "HEARTBEAT"})
        core.watchers.add(stream, core.now())
    return stream


def agents_view(core: MasterCore) -> JSON:
    offered = core.offered_map()
    ordered = sorted(core.agents.values(), key=lambda a: a.id)
    agents = [agent_json(a, offered.get(a.id, {})) for a in ordered]
    return {"agents": agents, "recovered_agents": []}


def tasks_view(core: MasterCore) -> JSON:
    live = [task_json(t) for a in core.agents.values() for t in a.tasks.values()]
    done = [task_json(t) for t in core.completed_tasks]
    return {
        "pending_tasks": [],
        "tasks": live,
        "unreachable_tasks": [],
        "completed_tasks": done,
        "orphan_tasks": [],
    }


def frameworks_view(core: MasterCore) -> JSON:
    frameworks = []
    for fw in sorted(core.frameworks.values(), key=lambda f: f.id):
        info = dict(fw.info)
        info["id"] = value(fw.id)
        connected = fw.stream is not None and not fw.stream.closed
        frameworks.append(
            {
                "framework_info": info,
                "active": connected,
                "connected": connected,
                "recovered": False,
                "registered_time": nanos(fw.registered),
            }
        )
    return {"frameworks": frameworks, "completed_frameworks": []}


def legacy_state(core: MasterCore, leader: str) -> JSON:
    """`GET /master/state`: the pre-v1 view with flat resources and attributes."""
    with core.locked():
        slaves = []
        offered = core.offered_map()
        for agent in sorted(core.agents.values(), key=lambda a: a.id):
            slave: JSON = {
                "id": agent.id,
                "hostname": agent.hostname,
                "port": agent.port,
                "pid": f"slave(1)@127.0.0.1:{agent.port}",
                "registered_time": agent.registered,
                "active": agent.active,
                "deactivated": not agent.active,
                "attributes": dict(agent.attributes),
                "resources": dict(agent.total),
                "used_resources": agent.allocated(),
                "offered_resources": offered.get(agent.id, {}),
            }
            if agent.drain_state is not None:
                slave["drain_info"] = {
                    "state": agent.drain_state,
                    "config": {"mark_gone": agent.mark_gone},
                }
            slaves.append(slave)
        return {
            "version": "1.11.0",
            "id": core.master_id,
            "leader": f"master@{leader}",
            "activated_slaves": sum(a.active for a in core.agents.values()),
            "slaves": slaves,
            "frameworks": [f["framework_info"] for f in frameworks_view(core)["frameworks"]],
            "completed_frameworks": [],
        }
