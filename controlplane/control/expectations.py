"""Expected durations into the snapshot: each pending task's, each agent's expected empty
time, each pool's boot time. Pure: the pass gives what it read and the learned figures.

- A task's expected duration is what its submitter declared (`expected_duration_s`; for a
  task another framework launched, the Mesos label `expected_duration_s`), else the mean
  duration of its job's finished tasks (learned). The snapshot says which
  (`duration_source`); with neither, it stays unknown and nothing waits on it.
- An agent is expected empty at the latest expected end (start + expected duration) of its
  live tasks; unknown as soon as one of them has no start time or no expected duration.
  Each task expected to end within the longest boot time (plus `queue_for_room_s`) is also
  listed with what it gives back (`expected_releases`): room that frees before a new
  instance could serve, or within what a pool lets a task wait beyond that.
- A pool boots in the mean time its instances took from first sighting without an agent
  to a registered agent (measured between passes, so up to one interval short).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from controlplane.aws.replies import ObservedGroup
from controlplane.mesos.replies import AgentView, TaskView
from controlplane.model import Agent, Pool, Release, Task
from controlplane.state.durations import DurationStats
from controlplane.state.records import InstanceMemory

#: The task label (and submission field) that declares an expected duration in seconds.
LABEL = "expected_duration_s"
#: The task label naming its job (our framework sets it from the submission).
JOB_LABEL = "job"


def expected(
    job: str | None, declared: float | None, stats: DurationStats
) -> tuple[float | None, str | None]:
    """(seconds, where from) of one task, or (None, None) when unknown."""
    if declared is not None:
        return declared, "declared"
    mean = stats.jobs.get(job) if job else None
    if mean is None:
        return None, None
    tasks = f"{mean.count} task{'s' if mean.count != 1 else ''}"
    return mean.mean_s, f"learned from {tasks} of job {job}"


def with_expectations(tasks: Sequence[Task], stats: DurationStats) -> list[Task]:
    """Pending tasks with their expected durations filled in where known."""
    out = []
    for task in tasks:
        seconds, source = expected(task.job_name, task.expected_duration_s, stats)
        if source == task.duration_source:
            out.append(task)
        else:  # the loop says where a duration came from, whatever a submitter wrote
            update = {"expected_duration_s": seconds, "duration_source": source}
            out.append(task.model_copy(update=update))
    return out


@dataclass(frozen=True)
class Ends:
    """When an agent's running work is expected to end: all of it, and what ends soon."""

    empty_at: datetime | None
    releases: list[Release]


def expected_ends(
    views: Sequence[AgentView], stats: DurationStats, now_s: float, horizon_s: float | None
) -> dict[str, Ends]:
    """Agent id -> its expected ends: empty when its live tasks are all expected to have
    ended (known ones only), and each task's release due within `horizon_s` (the longest
    boot time: no later release can hold a task sooner than a new instance)."""
    out: dict[str, Ends] = {}
    for view in views:
        ends: list[float] = []
        releases: list[tuple[float, dict[str, float]]] = []
        known = True
        for task in view.tasks:
            end = expected_end(task, stats)
            if end is None:
                known = False
                continue
            ends.append(end)
            if horizon_s is not None and now_s <= end < now_s + horizon_s:
                releases.append((end, task.resources))
        empty_at = datetime.fromtimestamp(max(ends), UTC) if known and ends else None
        if empty_at is not None or releases:
            out[view.id] = Ends(empty_at, _within(view.used, sorted(releases, key=_first)))
    return out


def expected_end(task: TaskView, stats: DurationStats) -> float | None:
    """When a running task is expected to end (epoch seconds), or None when unknown."""
    seconds, _ = expected(task.labels.get(JOB_LABEL), _seconds(task.labels), stats)
    if task.started_at is None or seconds is None:
        return None
    return task.started_at + seconds


def _first(item: tuple[float, dict[str, float]]) -> float:
    return item[0]


def _within(
    used: Mapping[str, float], releases: Sequence[tuple[float, dict[str, float]]]
) -> list[Release]:
    """Releases as the snapshot states them: together never more than the agent uses."""
    left = dict(used)
    out = []
    for at, resources in releases:
        given = {}
        for name, amount in resources.items():
            take = min(amount, left.get(name, 0.0))
            if take > 0 and math.isfinite(take):
                given[name] = take
                left[name] -= take
        if given:
            out.append(Release(at=datetime.fromtimestamp(at, UTC), resources=given))
    return out


def with_expected_ends(agents: Sequence[Agent], ends: Mapping[str, Ends]) -> list[Agent]:
    out = []
    for agent in agents:
        mine = ends.get(agent.id)
        if mine is None:
            out.append(agent)
        else:
            update = {"expected_empty_at": mine.empty_at, "expected_releases": mine.releases}
            out.append(agent.model_copy(update=update))
    return out


def boot_horizon(pools: Sequence[Pool]) -> float | None:
    """How far ahead any pool's pending tasks may wait for room: the longest known boot
    time plus the pool's `queue_for_room_s` (None when no boot time is known)."""
    known = [h for h in (p.wait_horizon_s for p in pools) if h is not None]
    return max(known) if known else None


def with_boot_times(pools: Sequence[Pool], stats: DurationStats) -> list[Pool]:
    """Pools with their measured boot time (a pool not measured yet keeps its own)."""
    return [
        p.model_copy(update={"boot_s": stats.boot[p.name].mean_s}) if p.name in stats.boot else p
        for p in pools
    ]


def boot_samples(
    before: InstanceMemory,
    groups: Mapping[str, ObservedGroup],
    registered: Collection[str],
    now: datetime,
) -> list[tuple[str, float]]:
    """(pool, seconds) of instances that waited for an agent last pass and have one now."""
    out = []
    for group in groups.values():
        for inst in group.instances:
            first = before.unregistered.get(inst.instance_id)
            if first is not None and inst.instance_id in registered:
                out.append((group.pool, (now - first).total_seconds()))
    return sorted(out)


def _seconds(labels: Mapping[str, str]) -> float | None:
    """A declared duration label, or None when absent or not a positive number."""
    text = labels.get(LABEL)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None
