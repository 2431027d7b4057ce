"""Time-driven master behaviour on a virtual clock, without HTTP: heartbeats, failover
timeouts, offer timeouts, agent removal."""

from __future__ import annotations

import json
from typing import Any

from controlplane.sim.clock import VirtualClock
from controlplane.sim.mesos_master import MasterCore
from controlplane.sim.mesos_master.state import EventStream, SimTask


def events(stream: EventStream) -> list[dict[str, object]]:
    records = stream.take(0) or []
    return [json.loads(r.split(b"\n", 1)[1]) for r in records]


def test_heartbeat_at_once_then_every_15_seconds() -> None:
    clock = VirtualClock()
    core = MasterCore(clock)
    _, stream = core.subscribe({"user": "u", "name": "n"}, None)
    assert [e["type"] for e in events(stream)] == ["SUBSCRIBED", "HEARTBEAT"]
    clock.advance(14.9)
    core.tick()
    assert events(stream) == []
    clock.advance(0.1)
    core.tick()
    assert [e["type"] for e in events(stream)] == ["HEARTBEAT"]


def test_disconnected_framework_is_removed_after_its_failover_timeout() -> None:
    clock = VirtualClock()
    core = MasterCore(clock)
    agent = core.add_agent(resources={"cpus": 2.0, "mem": 512.0})
    fw, stream = core.subscribe({"user": "u", "name": "n", "failover_timeout": 30.0}, None)
    with core.locked():
        core.launch(
            core.agents[agent],
            SimTask("t", "t", fw.id, agent, {"cpus": 1.0}, {}, clock.now(), None),
        )
    core.stream_closed(fw.id, stream)
    clock.advance(29)
    core.tick()
    assert fw.id in core.frameworks and core.find_task(fw.id, "t") is not None
    clock.advance(1)
    core.tick()
    assert fw.id not in core.frameworks and core.find_task(fw.id, "t") is None
    # A removed framework cannot come back: its stream holds only an ERROR.
    try:
        core.subscribe({"user": "u", "name": "n"}, fw.id)
    except Exception as refused:
        stream = refused.stream  # type: ignore[attr-defined]
    assert [e["type"] for e in events(stream)] == ["ERROR"]


def test_offer_timeout_rescinds_and_removed_agent_is_lost() -> None:
    clock = VirtualClock()
    core = MasterCore(clock, offer_timeout_s=10.0)
    agent = core.add_agent(resources={"cpus": 2.0, "mem": 512.0})
    fw, stream = core.subscribe({"user": "u", "name": "n"}, None)
    core.tick()
    assert [e["type"] for e in events(stream)][-1] == "OFFERS"
    clock.advance(10)
    core.tick()
    assert [e["type"] for e in events(stream)][:1] == ["RESCIND"]
    with core.locked():
        core.launch(
            core.agents[agent],
            SimTask("t", "t", fw.id, agent, {"cpus": 1.0}, {}, clock.now(), None),
        )
    events(stream)
    core.remove_agent(agent)
    got = events(stream)
    update = next(e for e in got if e["type"] == "UPDATE")
    assert update["update"]["status"]["state"] == "TASK_LOST"  # type: ignore[index]
    assert update["update"]["status"]["reason"] == "REASON_AGENT_REMOVED"  # type: ignore[index]
    assert {"type": "FAILURE", "failure": {"agent_id": {"value": agent}}} in got


def _run(core: MasterCore, fw_id: str, agent: str, task_id: str, ends_at: float | None) -> None:
    with core.locked():
        task = SimTask(task_id, task_id, fw_id, agent, {"cpus": 1.0}, {}, core.now(), ends_at)
        core.launch(core.agents[agent], task)


def _updates(stream: EventStream) -> list[tuple[str, str]]:
    got: list[Any] = [e["update"] for e in events(stream) if e["type"] == "UPDATE"]
    return [(u["status"]["task_id"]["value"], u["status"]["state"]) for u in got]


def test_tasks_exit_at_their_end_once_even_if_killed_or_relaunched_before() -> None:
    clock = VirtualClock()
    core = MasterCore(clock)
    agent = core.add_agent(resources={"cpus": 4.0, "mem": 4096.0})
    fw, stream = core.subscribe({"user": "u", "name": "n"}, None)
    _run(core, fw.id, agent, "short", clock.now() + 10)
    _run(core, fw.id, agent, "killed", clock.now() + 10)
    _run(core, fw.id, agent, "again", clock.now() + 5)
    _run(core, fw.id, agent, "forever", None)
    events(stream)
    core.kill(fw.id, "killed")
    clock.advance(5)
    core.tick()
    assert _updates(stream) == [("killed", "TASK_KILLED"), ("again", "TASK_FINISHED")]
    _run(core, fw.id, agent, "again", clock.now() + 20)  # the same id, launched anew
    assert _updates(stream) == [("again", "TASK_RUNNING")]
    clock.advance(5)
    core.tick()
    assert _updates(stream) == [("short", "TASK_FINISHED")]  # neither kill nor first end
    clock.advance(15)
    core.tick()
    assert _updates(stream) == [("again", "TASK_FINISHED")]
    assert sorted(t for _, t in core.agents[agent].tasks) == ["forever"]


def test_a_draining_agent_is_killed_at_its_deadline_and_then_forgotten() -> None:
    clock = VirtualClock()
    core = MasterCore(clock)
    agent = core.add_agent(resources={"cpus": 4.0, "mem": 4096.0})
    other = core.add_agent(resources={"cpus": 4.0, "mem": 4096.0})
    fw, stream = core.subscribe({"user": "u", "name": "n"}, None)
    _run(core, fw.id, agent, "t", None)
    _run(core, fw.id, other, "u", None)
    core.drain_agent(agent, 30.0, False)
    clock.advance(29)
    core.tick()
    assert core.agents[agent].drain_state == "DRAINING" and core.due.draining == {agent}
    events(stream)
    clock.advance(1)
    core.tick()
    assert _updates(stream) == [("t", "TASK_KILLED")]
    assert core.agents[agent].drain_state == "DRAINED"
    core.tick()
    assert core.due.draining == set() and [t for _, t in core.agents[other].tasks] == ["u"]


def test_updates_wait_for_acknowledgement_and_a_new_stream_starts_afresh() -> None:
    """`quiet()` waits for every agent update a connected framework has not acknowledged;
    those left on an earlier stream are not sent again, so they stop counting, while the
    backlog kept during the disconnection is delivered and awaited."""
    clock = VirtualClock()
    info: dict[str, Any] = {"user": "u", "name": "n", "failover_timeout": 600.0}
    core = MasterCore(clock)
    agent = core.add_agent(resources={"cpus": 4.0, "mem": 4096.0})
    fw, stream = core.subscribe(info, None)
    core.tick()  # the subscription's allocation
    for offer in list(core.offers.values()):
        core.recover(offer, 3600.0)
    core.tick()
    assert core.quiet()
    _run(core, fw.id, agent, "t", clock.now() + 10)
    assert len(fw.unacked) == 1 and not core.quiet()  # TASK_RUNNING, unacknowledged
    core.stream_closed(fw.id, stream)
    clock.advance(10)
    core.tick()  # TASK_FINISHED while disconnected: kept in the backlog
    fw, stream = core.subscribe(info, fw.id)
    finished = [e for e in events(stream) if e["type"] == "UPDATE"]
    assert [e["update"]["status"]["state"] for e in finished] == ["TASK_FINISHED"]  # type: ignore[index]
    assert fw.unacked == {finished[0]["update"]["status"]["uuid"]}  # type: ignore[index]
