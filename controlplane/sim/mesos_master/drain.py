"""Agent activation and draining, as Mesos 1.9+ does them.

DRAIN_AGENT deactivates the agent (no more offers), rescinds its outstanding offers and
gives its tasks until `max_grace_period` to end; whatever still runs then is killed with
REASON_AGENT_DRAINING. The agent is DRAINED once it has no tasks, or disappears when
`mark_gone` was asked. Draining cannot be cancelled: REACTIVATE_AGENT is refused while
DRAINING and brings a DRAINED agent back. Callers hold the core's lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controlplane.sim.mesos_master.errors import CallError
from controlplane.sim.mesos_master.state import SimAgent

if TYPE_CHECKING:
    from controlplane.sim.mesos_master.core import MasterCore


def set_active(core: MasterCore, agent: SimAgent, active: bool) -> None:
    if active and agent.drain_state == "DRAINING":
        raise CallError(400, f"Agent {agent.id} is draining; draining cannot be cancelled")
    agent.active = active
    if active:
        agent.drain_state = None
        agent.drain_deadline = None
        core.request_allocation()
    else:
        core.rescind_agent_offers(agent.id)


def start(core: MasterCore, agent: SimAgent, grace_s: float | None, mark_gone: bool) -> None:
    """Begin (or re-configure) a drain; a second DRAIN_AGENT keeps the first deadline."""
    now = core.now()
    agent.active = False
    core.rescind_agent_offers(agent.id)
    if agent.drain_state != "DRAINING":
        agent.drain_deadline = now + (grace_s or 0.0)
    agent.drain_state = "DRAINING"
    core.due.draining.add(agent.id)
    agent.drain_grace_s = grace_s
    agent.mark_gone = agent.mark_gone or mark_gone
    advance(core, agent, now)


def advance(core: MasterCore, agent: SimAgent, now: float) -> None:
    """Kill what outlived the grace period; mark DRAINED (or gone) once empty."""
    if agent.drain_state != "DRAINING":
        return
    if agent.drain_deadline is not None and now >= agent.drain_deadline:
        for task in list(agent.tasks.values()):
            core.end_task(task, "TASK_KILLED", "REASON_AGENT_DRAINING", "agent draining")
    if not agent.tasks:
        if agent.mark_gone:
            core.remove_agent(agent.id, by_operator=True)
        else:
            agent.drain_state = "DRAINED"
