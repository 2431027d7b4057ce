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
from controlplane.mesos.task_labels import EXCLUSIVE, UNIQUE_HOST, flagged
from controlplane.model import Agent, AgentState

#: Attributes that become Agent fields rather than free-form attributes.
FIELD_ATTRIBUTES = ("pool", "zone", "asg", "instance_id")
#: An agent attribute or a task label with this name and a true value (`true`, `yes`, `1`)
#: marks the agent do-not-disrupt: no drain, cordon or relocation touches it.
DO_NOT_DISRUPT = "do_not_disrupt"
_NOT_FREE_FORM = frozenset({*FIELD_ATTRIBUTES, DO_NOT_DISRUPT})
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


class AgentModels:
    """Agent models kept from the pass before. The event stream's picture hands back the
    same view object for an agent no event touched; with the same idle memory it makes the
    same (frozen) Agent, so it is not validated again: a steady pass over 10,000 agents
    builds only the models of the agents that changed."""

    def __init__(self) -> None:
        self._made: dict[str, tuple[AgentView, datetime | None, Agent]] = {}

    def use(self, lasting_views: bool) -> AgentModels | None:
        """Self when the views come from the picture; views read from GET_STATE are new
        every pass, and keeping their models would only hold a second copy of the cluster."""
        if not lasting_views:
            self._made = {}
            return None
        return self

    def made(self, view: AgentView, idle_since: datetime | None) -> Agent | None:
        kept = self._made.get(view.id)
        if kept is not None and kept[0] is view and kept[1] == idle_since:
            return kept[2]
        return None

    def keep(self, made: dict[str, tuple[AgentView, datetime | None, Agent]]) -> None:
        self._made = made


def observe_agents(
    views: Sequence[AgentView],
    now: datetime,
    idle: IdleMemory | None = None,
    models: AgentModels | None = None,
) -> Observation:
    """Build `Agent` models (reusing `models`' where the view is the one they were made
    from). Agents without `pool` and `zone` attributes are not ours: they are reported in
    `skipped`, not guessed at. Bad values raise MalformedReplyError naming the agent, so no
    half-built list is ever returned."""
    memory = dict(idle or {})
    agents: list[Agent] = []
    kept: dict[str, datetime] = {}
    skipped: dict[str, str] = {}
    made: dict[str, tuple[AgentView, datetime | None, Agent]] = {}
    for view in sorted(views, key=lambda v: v.id):
        missing = [a for a in ("pool", "zone") if a not in view.attributes]
        if missing:
            skipped[view.id] = f"no {' or '.join(missing)} attribute"
            continue
        idle_since = None
        if not view.tasks:
            idle_since = memory.get(view.id, now)
            kept[view.id] = idle_since
        agent = None if models is None else models.made(view, idle_since)
        if agent is None:
            agent = _agent(view, idle_since)
        made[view.id] = (view, idle_since, agent)
        agents.append(agent)
    if models is not None:
        models.keep(made)
    return Observation(agents, kept, skipped)


def _agent(view: AgentView, idle_since: datetime | None) -> Agent:
    """The snapshot's model of one agent; MalformedReplyError names it if a value is bad."""
    jobs: dict[str, int] = {}
    unique: set[str] = set()
    exclusive = False
    for task in view.tasks:
        job = task.labels.get("job") or task.id
        jobs[job] = jobs.get(job, 0) + 1
        if flagged(task.labels, UNIQUE_HOST):
            unique.add(job)
        exclusive = exclusive or flagged(task.labels, EXCLUSIVE)
    attrs = {k: v for k, v in view.attributes.items() if k not in _NOT_FREE_FORM}
    asg = view.attributes.get("asg")
    instance = view.attributes.get("instance_id")
    try:
        return Agent(
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
            unique_host_jobs=sorted(unique),
            exclusive=exclusive,
            state=agent_state(view),
            idle_since=idle_since,
            attributes=attrs,
            do_not_disrupt=marked(view),
        )
    except ValidationError as exc:
        raise MalformedReplyError(f"agent {view.id}: {describe(exc)}") from exc
