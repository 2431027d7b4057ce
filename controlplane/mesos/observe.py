"""Operator API views into the snapshot's `Agent` models.

Adapters decide nothing: pool, zone, asg and instance id come straight from agent
attributes. `idle_since` needs memory of when an agent became empty; that memory is an
explicit input and output (`IdleMemory`), never a global, so a reconcile pass can keep it in
its durable store and replay a pass exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from controlplane.errors import describe
from controlplane.mesos.replies import AgentView, MalformedReplyError
from controlplane.model import Agent, AgentState

#: Attributes that become Agent fields rather than free-form attributes.
FIELD_ATTRIBUTES = ("pool", "zone", "asg", "instance_id")
#: An agent attribute or a task label with this name and a true value (`true`, `yes`, `1`)
#: marks the agent do-not-disrupt: no drain, cordon or relocation touches it.
DO_NOT_DISRUPT = "do_not_disrupt"
_TRUE = frozenset({"true", "yes", "1", "on"})


def marked(view: AgentView) -> bool:
    """The agent or one of its live tasks carries the do-not-disrupt marker."""
    if str(view.attributes.get(DO_NOT_DISRUPT, "")).strip().lower() in _TRUE:
        return True
    return any(t.labels.get(DO_NOT_DISRUPT, "").strip().lower() in _TRUE for t in view.tasks)


#: Agent id -> when it was first seen without tasks.
IdleMemory = Mapping[str, datetime]


@dataclass(frozen=True)
class Observation:
    """Agents ready for a snapshot, the idle memory to keep, and agents left out (why)."""

    agents: list[Agent]
    idle_since: dict[str, datetime]
    skipped: dict[str, str] = field(default_factory=dict)


def agent_state(view: AgentView) -> AgentState:
    """DRAINING/DRAINED as Mesos says; a deactivated agent takes no tasks, so: draining."""
    if view.drain_state == "DRAINED":
        return "drained"
    if view.drain_state == "DRAINING" or not view.active:
        return "draining"
    return "active"


def observe_agents(
    views: Sequence[AgentView], now: datetime, idle: IdleMemory | None = None
) -> Observation:
    """Build `Agent` models. Agents without `pool` and `zone` attributes are not ours:
    they are reported in `skipped`, not guessed at. Bad values raise MalformedReplyError
    naming the agent, so no half-built list is ever returned."""
    memory = dict(idle or {})
    agents: list[Agent] = []
    kept: dict[str, datetime] = {}
    skipped: dict[str, str] = {}
    for view in sorted(views, key=lambda v: v.id):
        missing = [a for a in ("pool", "zone") if a not in view.attributes]
        if missing:
            skipped[view.id] = f"no {' or '.join(missing)} attribute"
            continue
        jobs: dict[str, int] = {}
        for task in view.tasks:
            job = task.labels.get("job") or task.id
            jobs[job] = jobs.get(job, 0) + 1
        idle_since = None
        if not view.tasks:
            idle_since = memory.get(view.id, now)
            kept[view.id] = idle_since
        attrs = {
            k: v
            for k, v in view.attributes.items()
            if k not in FIELD_ATTRIBUTES and k != DO_NOT_DISRUPT
        }
        asg = view.attributes.get("asg")
        instance = view.attributes.get("instance_id")
        try:
            agents.append(
                Agent(
                    id=view.id,
                    hostname=view.hostname,
                    instance_id=None if instance is None else str(instance),
                    pool=str(view.attributes["pool"]),
                    asg=None if asg is None else str(asg),
                    zone=str(view.attributes["zone"]),
                    total=view.total,
                    used=view.used,
                    tasks=len(view.tasks),
                    jobs=jobs,
                    state=agent_state(view),
                    idle_since=idle_since,
                    attributes=attrs,
                    do_not_disrupt=marked(view),
                )
            )
        except ValidationError as exc:
            raise MalformedReplyError(f"agent {view.id}: {describe(exc)}") from exc
    return Observation(agents, kept, skipped)
