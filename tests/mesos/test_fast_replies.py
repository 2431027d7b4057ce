"""The fast GET_STATE path and the strict reader never disagree: on any reply, well-formed
or broken anywhere, `read_state` gives what the strict reader gives, or raises the error it
raises (so the fast path never accepts what the strict one refuses)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controlplane.mesos.fast_replies import IrregularError, fast_state
from controlplane.mesos.replies import MalformedReplyError, read_state, strict_state

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=4,
)


def _resources(draw: st.DrawFn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in draw(st.lists(st.sampled_from(["cpus", "mem", "gpus", "ports"]), max_size=3)):
        if name == "ports":
            out.append({"name": name, "type": "RANGES", "ranges": {"range": []}})
        else:
            value = draw(st.one_of(st.integers(0, 64), st.floats(0, 1e5)))
            out.append({"name": name, "type": "SCALAR", "scalar": {"value": value}})
    return out


@st.composite
def states(draw: st.DrawFn) -> dict[str, Any]:
    agents = []
    n = draw(st.integers(0, 3))
    for i in range(n):
        agent: dict[str, Any] = {
            "agent_info": {
                "hostname": f"h{i}",
                "id": {"value": f"S{i}"},
                "attributes": [
                    {"name": "zone", "type": "TEXT", "text": {"value": "us-east-1a"}},
                    {"name": "rack", "type": "SCALAR", "scalar": {"value": 3}},
                    {"name": "set", "type": "SET", "set": {"item": ["a"]}},
                ],
                "resources": _resources(draw),
            },
            "active": draw(st.booleans()),
            "allocated_resources": _resources(draw),
            "offered_resources": _resources(draw),
        }
        if draw(st.booleans()):
            agent["total_resources"] = _resources(draw)
        if draw(st.booleans()):
            agent["drain_info"] = {"state": draw(st.sampled_from(["DRAINING", "DRAINED"]))}
        agents.append(agent)
    tasks = []
    for j in range(draw(st.integers(0, 4))):
        task: dict[str, Any] = {
            "task_id": {"value": f"t{j}"},
            "framework_id": {"value": "fw"},
            "agent_id": {"value": f"S{draw(st.integers(0, max(0, n - 1)))}"},
            "state": draw(st.sampled_from(["TASK_RUNNING", "TASK_STAGING", "TASK_FINISHED"])),
            "resources": _resources(draw),
            "name": f"task {j}",
        }
        if draw(st.booleans()):
            task["labels"] = {"labels": [{"key": "job", "value": "j"}, {"key": "x"}]}
        if draw(st.booleans()):
            task["statuses"] = [
                {"state": "TASK_STAGING", "timestamp": 1.0},
                {"state": "TASK_RUNNING", "timestamp": draw(st.floats(0, 2e9))},
            ]
        tasks.append(task)
    done = [dict(t, state="TASK_FINISHED") for t in tasks[:1]]
    return {
        "type": "GET_STATE",
        "get_state": {
            "get_tasks": {"tasks": tasks, "completed_tasks": done},
            "get_agents": {"agents": agents},
        },
    }


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            out += _paths(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out += _paths(inner, (*path, i))
    return out


def _outcome(read: Any, reply: Any, completed: bool) -> Any:
    try:
        return ("ok", read(reply, completed=completed))
    except MalformedReplyError as error:
        return ("error", str(error))


@given(states(), st.data(), st.booleans())
def test_fast_and_strict_agree_on_any_reply(
    state: dict[str, Any], data: st.DataObject, completed: bool
) -> None:
    reply = copy.deepcopy(state)
    paths = _paths(reply)
    for _ in range(data.draw(st.integers(0, 2))):
        path = data.draw(st.sampled_from(paths))
        if not path:
            continue
        parent = reply
        try:
            for key in path[:-1]:
                parent = parent[key]
            if data.draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = data.draw(JSON)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed the path
    assert _outcome(read_state, reply, completed) == _outcome(strict_state, reply, completed)


@given(states(), st.booleans())
def test_the_fast_path_reads_every_well_formed_reply(
    state: dict[str, Any], completed: bool
) -> None:
    assert fast_state(state, completed=completed) == strict_state(state, completed=completed)


@pytest.mark.parametrize(
    "broken",
    [
        {"agent_info": {"hostname": "h", "id": {"value": ""}}},  # empty id
        {"agent_info": {"hostname": "h", "id": {"value": "S"}}, "active": 1},
        {"agent_info": {"hostname": "h", "id": {"value": "S"}}, "drain_info": {"state": "X"}},
    ],
)
def test_irregular_replies_leave_the_fast_path(broken: dict[str, Any]) -> None:
    reply = {
        "type": "GET_STATE",
        "get_state": {"get_tasks": {}, "get_agents": {"agents": [broken]}},
    }
    with pytest.raises(IrregularError):
        fast_state(json.loads(json.dumps(reply)), completed=True)
    with pytest.raises(MalformedReplyError, match=r"get_state\.get_agents\.agents\[0\]"):
        read_state(reply)
