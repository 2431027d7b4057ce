"""Relocation: a cordoned agent that its last tasks keep from leaving gives them up.

Consolidation cordons an under-used agent and waits for its tasks to end. A long task can
keep it for hours. Where its pool allows (`relocate_after_s`), an agent cordoned at least
that long whose every running task is restartable (launched by our framework and marked so)
has them killed and queued again; they run from the start on the rest of the pool and the
empty agent leaves by the two-phase drain (never a busy termination). Pure: the loop gives
what it saw, this says which tasks, each with its reason.

Bounded and cautious:
- never while work waits (the plan scales the pool up, or leaves a task unplaced that
  the pool could take);
- only when every task fits, copy by copy (largest first), on the free room of the pool's
  active, uncordoned agents that the plan keeps, less what the plan places there (a task of
  a hard unique_host job only where its job is not; an agent with a hard exclusive task
  neither gives its tasks up nor takes others');
- only when it saves instance-time: the agent's expected remaining busy time must exceed
  the work run again (each task's share of the agent times how long it has run; a task
  whose start is unknown is never moved). The agent stays busy as long as its longest
  task: one before its expected end has that much left; one past it (an overdue task, the
  long tail the expectation missed) is taken to run as long again as it has run, the
  estimate for a heavy-tailed duration; one of no expectation, another `relocate_after_s`;
- at most `max_relocations_per_hour` tasks per pool in any hour, spent where a move saves
  the most instance-time per task it moves (expected busy time left less the work run
  again, over the tasks).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from controlplane.model import Agent, Plan, Pool, Snapshot
from controlplane.numbers import num

HOUR_S = 3600.0
#: Slack on a resource comparison, relative to the amount.
TOL = 1e-9


@dataclass(frozen=True)
class RunningTask:
    id: str
    resources: Mapping[str, float]
    #: Launched by our framework and marked restartable: it may be killed and run again.
    restartable: bool
    #: When it started running (epoch seconds); None: unknown, and it is not moved.
    started_s: float | None = None
    #: When it is expected to end (start + expected duration); None: no expectation.
    expected_end_s: float | None = None
    #: Its job (None: a job of its own) and whether the job is hard one-per-host.
    job: str | None = None
    unique_host: bool = False
    #: Hard exclusive: never moved (it could only go to an empty agent, saving nothing).
    exclusive: bool = False


@dataclass
class Room:
    """What one receiving agent still has free, and the jobs it runs or is given."""

    free: dict[str, float]
    jobs: set[str]


@dataclass(frozen=True)
class CordonedAgent:
    """A cordoned agent as the loop sees it: since when, and what still runs there."""

    id: str
    pool: str
    since_s: float
    tasks: tuple[RunningTask, ...]
    #: What the agent offers (each task's share of it weighs the work run again).
    total: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Relocation:
    task: str
    agent: str
    pool: str
    reason: str


def relocations(
    snapshot: Snapshot, plan: Plan, cordoned: Sequence[CordonedAgent]
) -> list[Relocation]:
    """The tasks to kill and run again elsewhere this pass, each with why."""
    now = snapshot.now.timestamp()
    out: list[Relocation] = []
    for pool in snapshot.pools:
        after = pool.relocate_after_s
        if after is None or pool.max_relocations_per_hour == 0 or _work_waits(snapshot, plan, pool):
            continue
        back = {u.agent for u in plan.uncordon}
        mine = [c for c in cordoned if c.pool == pool.name and c.id not in back]
        due = [c for c in mine if _due(c, after, now)]
        if not due:
            continue
        history = snapshot.history.get(pool.name)
        stamps = history.relocations if history else []
        used = sum(1 for t in stamps if now - t.timestamp() < HOUR_S)
        budget = pool.max_relocations_per_hour - used
        rooms = _rooms(snapshot, plan, pool)
        for agent in sorted(due, key=lambda c: (-_gain_per_task(c, after, now), c.since_s, c.id)):
            if len(agent.tasks) > budget:
                continue
            placed = _fit(agent.tasks, rooms)
            if placed is None:
                continue
            rooms = placed
            budget -= len(agent.tasks)
            why = (
                f"agent {agent.id} cordoned {num(round(now - agent.since_s))}s (relocate after "
                f"{num(after)}s); its {len(agent.tasks)} restartable "
                f"task{'s fit' if len(agent.tasks) != 1 else ' fits'} on the rest of pool "
                f"{pool.name}; {pool.max_relocations_per_hour - budget} of "
                f"{pool.max_relocations_per_hour} relocations this hour"
            )
            out.extend(Relocation(t.id, agent.id, pool.name, why) for t in agent.tasks)
    return out


def _work_waits(snapshot: Snapshot, plan: Plan, pool: Pool) -> bool:
    """The plan scales the pool up, or leaves a task unplaced that the pool could take
    (relocated tasks would compete with it for the room)."""
    if any(u.pool == pool.name for u in plan.scale_up):
        return True
    if not plan.unplaced:
        return False
    wanted = {t.id: t.pool for t in snapshot.pending}
    return any((name := wanted.get(u.task)) is None or pool.named(name) for u in plan.unplaced)


def _due(agent: CordonedAgent, after_s: float, now: float) -> bool:
    if not agent.tasks or not all(t.restartable and not t.exclusive for t in agent.tasks):
        return False
    if now - agent.since_s < after_s:
        return False
    return _redone_s(agent, now) < _left_s(agent, after_s, now)


def _gain_per_task(agent: CordonedAgent, after_s: float, now: float) -> float:
    """Instance-seconds a relocation saves per task it moves (the budget counts tasks)."""
    saved = _left_s(agent, after_s, now) - _redone_s(agent, now)
    return saved / max(1, len(agent.tasks))


def _left_s(agent: CordonedAgent, after_s: float, now: float) -> float:
    """How much longer the agent is expected to stay busy: its longest task's time left."""
    return max((_task_left_s(t, after_s, now) for t in agent.tasks), default=0.0)


def _task_left_s(task: RunningTask, after_s: float, now: float) -> float:
    """Before its expected end: the time to it. Overdue: as long again as it has run.
    No expectation (or no start): `after_s`."""
    if task.expected_end_s is None or task.started_s is None:
        return after_s
    if task.expected_end_s > now:
        return task.expected_end_s - now
    return now - task.started_s


def _redone_s(agent: CordonedAgent, now: float) -> float:
    """Instance-seconds run again if its tasks restart: each task's share of the agent
    (its largest resource share) times how long it has run; unknown starts: infinite."""
    total = 0.0
    for task in agent.tasks:
        if task.started_s is None:
            return math.inf
        share = max(
            (v / agent.total[n] for n, v in task.resources.items() if agent.total.get(n, 0) > 0),
            default=1.0,
        )
        total += share * max(0.0, now - task.started_s)
    return total


def _rooms(snapshot: Snapshot, plan: Plan, pool: Pool) -> list[Room]:
    """Free room of the pool's agents that stay active (and hold no exclusive task, running
    or placed by this plan), less this plan's placements, with the jobs each runs or is
    given."""
    leaving = {d.agent for d in plan.scale_down} | {c.agent for c in plan.cordon}
    pending = {t.id: t for t in snapshot.pending}
    placed: dict[str, dict[str, float]] = {}
    given: dict[str, set[str]] = {}
    for p in plan.placements:
        task = pending.get(p.task)
        if p.agent is not None and task is not None:
            into = placed.setdefault(p.agent, {})
            for name, amount in task.resources.items():
                into[name] = into.get(name, 0.0) + amount
            given.setdefault(p.agent, set()).add(task.job_name)
            if any(c.kind == "exclusive" and not c.soft for c in task.constraints):
                leaving.add(p.agent)  # this plan gives it to an exclusive task: no room
    return [
        Room(_free(a, placed.get(a.id, {})), set(a.jobs) | given.get(a.id, set()))
        for a in snapshot.agents
        if a.pool == pool.name
        and a.state == "active"
        and not (a.cordoned or a.exclusive)
        and a.id not in leaving
    ]


def _free(agent: Agent, placed: Mapping[str, float]) -> dict[str, float]:
    return {
        name: total - agent.used.get(name, 0.0) - placed.get(name, 0.0)
        for name, total in agent.total.items()
    }


def _fit(tasks: Sequence[RunningTask], rooms: list[Room]) -> list[Room] | None:
    """The rooms after placing every task first-fit, largest first (a unique_host task
    only where its job is not); None if one does not fit."""
    left = [Room(dict(r.free), set(r.jobs)) for r in rooms]
    for task in sorted(tasks, key=lambda t: (-sum(t.resources.values()), t.id)):
        job = task.job or task.id
        for room in left:
            if task.unique_host and job in room.jobs:
                continue
            free = room.free
            if all(free.get(n, 0.0) + TOL * max(v, 1.0) >= v for n, v in task.resources.items()):
                for n, v in task.resources.items():
                    free[n] = free.get(n, 0.0) - v
                room.jobs.add(job)
                break
        else:
            return None
    return left
