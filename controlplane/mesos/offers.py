"""Offers into a planner snapshot, and plan placements back into Mesos TaskInfos.

Each offered agent becomes a snapshot `Agent` whose total is what it offers now (its free
resources), so the pure planner decides where pending tasks go; the framework only carries
the decision out. Pools come from the offers' `pool` attribute (default `default`).

Offers say nothing of time, so the loop hands the framework `LaunchHints` after each pass:
what it learned of each job's task duration and when each agent is expected empty. With
them the planner's lifetime-aware packing works where tasks are really placed: a task goes
where it extends an agent's expected life least, so agents empty together (Mantis).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from controlplane.demand.submission import Submission
from controlplane.fields import MAX_SECONDS
from controlplane.mesos.task_labels import CONSTRAINT_LABELS, constraint_labels
from controlplane.model import Agent, Pool, Snapshot, Task

DEFAULT_POOL = "default"
DEFAULT_ZONE = "unknown"


@dataclass
class OfferedAgent:
    """The offers of one agent, merged (Mesos lets one ACCEPT take several offers of it)."""

    agent_id: str
    hostname: str
    attributes: dict[str, str | float]
    offer_ids: list[str] = field(default_factory=list)
    resources: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LaunchHints:
    """What the last pass knew of time: job -> expected task seconds (learned), agent id ->
    when it is expected empty. Hints only: a stale or missing one changes where a task is
    preferred, never whether it fits."""

    durations: Mapping[str, float] = field(default_factory=dict)
    empty_at: Mapping[str, datetime] = field(default_factory=dict)
    #: Instances AWS is taking back (a Spot warning): their offers are never used, even
    #: before the loop has deactivated an agent that registered on one.
    reclaimed: frozenset[str] = frozenset()

    def expected_s(self, task: Task) -> float | None:
        if task.expected_duration_s is not None:
            return task.expected_duration_s
        return self.durations.get(task.job_name)

    def launched(self, launches: Mapping[str, Sequence[Task]], now: datetime) -> LaunchHints:
        """These hints with agents' expected empty times pushed out by the tasks just
        launched on them (agent id -> tasks), so the next offers see them too."""
        empty_at = dict(self.empty_at)
        for agent_id, tasks in launches.items():
            ends = [now + timedelta(seconds=s) for s in map(self.expected_s, tasks) if s]
            if ends:
                before = empty_at.get(agent_id)
                empty_at[agent_id] = max([*ends, *([before] if before else [])])
        return LaunchHints(self.durations, empty_at, self.reclaimed)


def group_offers(offers: Sequence[Mapping[str, Any]]) -> dict[str, OfferedAgent]:
    """Offers by agent id. Non-scalar resources are left out of what the planner sees."""
    out: dict[str, OfferedAgent] = {}
    for offer in offers:
        agent_id = str(offer["agent_id"]["value"])
        attrs: dict[str, str | float] = {}
        for attr in offer.get("attributes", []):
            if attr.get("type") == "TEXT":
                attrs[attr["name"]] = str(attr["text"]["value"])
            elif attr.get("type") == "SCALAR":
                attrs[attr["name"]] = float(attr["scalar"]["value"])
        entry = out.setdefault(
            agent_id, OfferedAgent(agent_id, str(offer.get("hostname", "")), attrs)
        )
        entry.offer_ids.append(str(offer["id"]["value"]))
        for res in offer.get("resources", []):
            if res.get("type", "SCALAR") == "SCALAR":
                name = str(res["name"])
                entry.resources[name] = entry.resources.get(name, 0.0) + float(
                    res["scalar"]["value"]
                )
    return out


def offers_snapshot(
    offered: Mapping[str, OfferedAgent],
    pending: Sequence[Task],
    running_jobs: Mapping[str, Mapping[str, int]],
    now: datetime,
    hints: LaunchHints | None = None,
    exclusive: Collection[str] = (),
) -> Snapshot:
    """A snapshot of the offered resources and the pending tasks that could use them.

    `running_jobs` (agent id -> job -> count) lets unique_host and balanced constraints
    see this framework's tasks already running there; `exclusive` names the agents one of
    its hard exclusive tasks keeps to itself (nothing else is placed there). Pools have no
    groups: there is nothing to scale from inside a framework, so tasks that do not fit stay
    unplaced.
    `hints` give tasks their learned durations and agents their expected empty times, and
    leave out agents on instances AWS is reclaiming (their offers are declined).
    """
    hints = hints or LaunchHints()
    agents: list[Agent] = []
    capacity: dict[str, dict[str, float]] = {}
    for entry in sorted(offered.values(), key=lambda e: e.agent_id):
        if str(entry.attributes.get("instance_id", "")) in hints.reclaimed:
            continue
        pool = str(entry.attributes.get("pool", DEFAULT_POOL))
        cap = capacity.setdefault(pool, {})
        for name, amount in entry.resources.items():
            cap[name] = max(cap.get(name, 0.0), amount)
        jobs = dict(running_jobs.get(entry.agent_id, {}))
        skip = {"pool", "zone", "asg", "instance_id"}
        agents.append(
            Agent(
                id=entry.agent_id,
                hostname=entry.hostname,
                pool=pool,
                zone=str(entry.attributes.get("zone", DEFAULT_ZONE)),
                total={n: max(0.0, v) for n, v in entry.resources.items()},
                tasks=sum(jobs.values()),
                jobs=jobs,
                exclusive=entry.agent_id in exclusive,
                attributes={k: v for k, v in entry.attributes.items() if k not in skip},
                expected_empty_at=_future(hints.empty_at.get(entry.agent_id), now),
            )
        )
    pools = [
        Pool(name=name, instance_type="offered", capacity=cap, groups=[])
        for name, cap in sorted(capacity.items())
        if any(v > 0 for v in cap.values())
    ]
    names = {p.name for p in pools}
    agents = [a for a in agents if a.pool in names]
    tasks = [_learned(t, hints) for t in pending if t.pool is None or t.pool in names]
    return Snapshot(version=1, now=now, pools=pools, agents=agents, pending=tasks)


def _future(at: datetime | None, now: datetime) -> datetime | None:
    """An expected empty time still ahead (one past is no longer a guide)."""
    return at if at is not None and at > now else None


def _learned(task: Task, hints: LaunchHints) -> Task:
    if task.expected_duration_s is not None:
        return task
    seconds = hints.durations.get(task.job_name)
    if seconds is None or not 0 < seconds <= MAX_SECONDS:
        return task
    update = {"expected_duration_s": seconds, "duration_source": "learned"}
    return task.model_copy(update=update)


def task_info(sub: Submission, agent_id: str, argv: Sequence[str]) -> dict[str, Any]:
    """The TaskInfo that launches `sub` on `agent_id` with its own resources, running the
    allowed command `argv` without a shell (the submission chose it by name)."""
    labels = dict(sub.labels)
    if sub.job:
        labels.setdefault("job", sub.job)
    if sub.expected_duration_s is not None:  # what the loop reads back from GET_STATE
        labels["expected_duration_s"] = repr(sub.expected_duration_s)
    if sub.restartable:
        labels["restartable"] = "true"
    for name in CONSTRAINT_LABELS:  # they say what the constraints say, never otherwise
        labels.pop(name, None)
    labels.update(constraint_labels(sub))  # what the loop must know of it once it runs
    info: dict[str, Any] = {
        "name": sub.id,
        "task_id": {"value": sub.id},
        "agent_id": {"value": agent_id},
        "resources": [
            {"name": name, "type": "SCALAR", "scalar": {"value": amount}}
            for name, amount in sorted(sub.resources.items())
            if amount > 0
        ],
        "command": {"value": argv[0], "arguments": list(argv), "shell": False},
    }
    if labels:
        info["labels"] = {"labels": [{"key": k, "value": v} for k, v in sorted(labels.items())]}
    return info
