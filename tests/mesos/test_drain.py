"""DRAIN_AGENT as Mesos does it: deactivated, offers rescinded, tasks killed after the grace
period (REASON_AGENT_DRAINING), DRAINED only once empty; mark_gone removes the agent."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.mesos.operator_client import OperatorClient
from controlplane.mesos.replies import MesosError
from controlplane.sim.clock import VirtualClock
from controlplane.sim.mesos_master import MesosMasterEmulator
from controlplane.sim.mesos_master.state import SimTask
from tests.mesos.conftest import DriverFactory
from tests.support.mesos_calls import Recorder, task, wait_for


def test_drain_with_tasks_ends_drained_only_when_they_end(
    virtual_emulator: MesosMasterEmulator, clock: VirtualClock, drivers: DriverFactory
) -> None:
    target: list[str] = []

    def launch_two(driver: Any, offers: list[Any]) -> None:
        if not target:
            offer = offers[0]
            target.append(offer["agent_id"]["value"])
            tasks = [task("short", offer, duration_s="20"), task("forever", offer)]
            driver.launchTasks(offer["id"], tasks)

    _, rec = drivers(virtual_emulator.address, Recorder(launch_two))
    wait_for(lambda: rec.states("forever") == ["TASK_RUNNING"], what="tasks running")
    agent_id = target[0]
    clock.advance(6)  # past the launch's default 5 s filter: the rest of the agent is offered
    held = wait_for(
        lambda: [o["id"]["value"] for o in rec.offers[1:] if o["agent_id"]["value"] == agent_id],
        what="an offer of the agent's unused resources",
    )
    client = OperatorClient(virtual_emulator.address)

    client.drain_agent(agent_id, max_grace_period_s=30)
    view = _agent(client, agent_id)
    assert (view.drain_state, view.active) == ("DRAINING", False)
    assert len(view.tasks) == 2
    wait_for(lambda: set(held) & set(rec.rescinded), what="the drained agent's offer rescinded")

    clock.advance(15)  # the short task ends on its own; the agent still has one
    wait_for(lambda: "TASK_FINISHED" in rec.states("short"), what="short to finish")
    assert _agent(client, agent_id).drain_state == "DRAINING"

    clock.advance(16)  # grace period (drained at t=6, 30 s) over: the rest is killed
    wait_for(lambda: "TASK_KILLED" in rec.states("forever"), what="forever to be killed")
    assert rec.update("forever", "TASK_KILLED")["reason"] == "REASON_AGENT_DRAINING"
    view = wait_for(lambda: _drained(client, agent_id), what="DRAINED")
    assert view.tasks == ()
    with pytest.raises(MesosError, match="400"):
        client.drain_agent("no-such-agent")
    client.reactivate_agent(agent_id)  # a DRAINED agent may come back
    assert _agent(client, agent_id).drain_state is None


def test_draining_cannot_be_cancelled_and_mark_gone_removes(
    virtual_emulator: MesosMasterEmulator, clock: VirtualClock
) -> None:
    core = virtual_emulator.core
    fw, _ = core.subscribe({"user": "u", "name": "n"}, None)
    agent_id = sorted(core.agents)[0]
    client = OperatorClient(virtual_emulator.address)
    with core.locked():
        core.launch(
            core.agents[agent_id],
            SimTask("t", "t", fw.id, agent_id, {"cpus": 1.0}, {}, clock.now(), None),
        )
    client.drain_agent(agent_id, max_grace_period_s=5, mark_gone=True)
    with pytest.raises(MesosError, match="draining cannot be cancelled"):
        client.reactivate_agent(agent_id)
    assert agent_id in {a.id for a in client.agents()}
    clock.advance(6)
    wait_for(lambda: agent_id not in {a.id for a in client.agents()}, what="agent gone")
    done = [t for t in client.tasks() if t.id == "t"]
    assert [t.state for t in done] == ["TASK_KILLED"]


def _agent(client: OperatorClient, agent_id: str) -> Any:
    return next(a for a in client.agents() if a.id == agent_id)


def _drained(client: OperatorClient, agent_id: str) -> Any:
    view = _agent(client, agent_id)
    return view if view.drain_state == "DRAINED" else None
