"""Operator views into snapshot Agents: fields from attributes, idle memory in and out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from controlplane.mesos.observe import AgentModels, observe_agents
from controlplane.mesos.operator_client import OperatorClient
from controlplane.mesos.replies import AgentView, MalformedReplyError, TaskView
from controlplane.sim.mesos_master import MesosMasterEmulator

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def view(agent_id: str, tasks: int = 0, **kw: object) -> AgentView:
    running = tuple(
        TaskView(
            f"{agent_id}-t{i}",
            "t",
            "F",
            agent_id,
            "TASK_RUNNING",
            {"cpus": 1.0},
            {"job": "web"} if i % 2 else {},
        )
        for i in range(tasks)
    )
    base = AgentView(
        id=agent_id,
        hostname=f"h-{agent_id}",
        attributes={
            "pool": "batch",
            "zone": "us-east-1a",
            "asg": "batch-a",
            "instance_id": "i-1",
            "rack": "r1",
        },
        total={"cpus": 4.0, "mem": 1024.0},
        used={"cpus": float(tasks)},
        offered={},
        active=True,
        drain_state=None,
        tasks=running,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_fields_states_jobs_and_idle_memory() -> None:
    views = [
        view("A", tasks=3),
        view("B"),
        view("C", drain_state="DRAINING"),
        view("D", drain_state="DRAINED"),
        view("E", active=False),
    ]
    first = observe_agents(views, NOW, {"B": NOW - timedelta(hours=1), "A": NOW})
    by_id = {a.id: a for a in first.agents}
    a = by_id["A"]
    assert (a.pool, a.zone, a.asg, a.instance_id) == ("batch", "us-east-1a", "batch-a", "i-1")
    assert a.attributes == {"rack": "r1"}
    assert (a.tasks, a.jobs, a.used, a.idle_since) == (
        3,
        {"A-t0": 1, "web": 1, "A-t2": 1},
        {"cpus": 3.0},
        None,
    )
    assert by_id["B"].idle_since == NOW - timedelta(hours=1)  # remembered
    assert by_id["C"].idle_since == NOW  # first seen empty now
    assert [by_id[x].state for x in "ABCDE"] == [
        "active",
        "active",
        "draining",
        "drained",
        "draining",
    ]
    assert "A" not in first.idle_since  # busy agents leave the memory
    later = observe_agents(views, NOW + timedelta(minutes=5), first.idle_since)
    assert {a.id: a.idle_since for a in later.agents}["C"] == NOW


def test_agents_without_pool_or_zone_are_skipped_with_a_reason() -> None:
    out = observe_agents([view("X", attributes={"zone": "z"}), view("Y")], NOW)
    assert [a.id for a in out.agents] == ["Y"]
    assert out.skipped == {"X": "no pool attribute"}


def test_impossible_values_fail_whole_naming_the_agent() -> None:
    with pytest.raises(MalformedReplyError, match="agent Z: used cpus 9 exceeds total 4"):
        observe_agents([view("Y"), view("Z", used={"cpus": 9.0})], NOW)


def test_observes_the_emulator(emulator: MesosMasterEmulator) -> None:
    out = observe_agents(OperatorClient(emulator.address).agents(), NOW)
    assert sorted(a.zone for a in out.agents) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert all(a.state == "active" and a.idle_since == NOW for a in out.agents)


def test_models_are_kept_only_for_the_same_view_and_idle_memory() -> None:
    """A view the picture did not rebuild keeps its Agent; a rebuilt view, a changed idle
    time or a GET_STATE read (use(False)) builds anew; departed agents are forgotten."""
    models = AgentModels()
    busy, idle, gone = view("A", tasks=2), view("B"), view("C")
    first = observe_agents([busy, idle, gone], NOW, {}, models.use(True))
    again = observe_agents([busy, idle], NOW + timedelta(minutes=1), first.idle_since, models)
    same = {a.id: a for a in first.agents}
    assert [a is same[a.id] for a in again.agents] == [True, True]
    assert "C" not in models._made
    rebuilt = replace(busy, tasks=busy.tasks[:1], used={"cpus": 1.0})
    later = observe_agents([rebuilt, idle], NOW, {"B": NOW - timedelta(hours=1)}, models)
    by_id = {a.id: a for a in later.agents}
    assert by_id["A"] is not same["A"] and by_id["A"].tasks == 1
    assert by_id["B"] is not same["B"] and by_id["B"].idle_since == NOW - timedelta(hours=1)
    assert later == observe_agents([rebuilt, idle], NOW, {"B": NOW - timedelta(hours=1)})
    assert models.use(False) is None and models._made == {}
