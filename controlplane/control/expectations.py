"""Expected durations into the snapshot: each pending task's, each agent's expected empty
time, each pool's boot time. Pure: the pass gives what it read and the learned figures.

- A task's expected duration is what its submitter declared (`expected_duration_s`; for a
  task another framework launched, the Mesos label `expected_duration_s`), else the mean
  duration of its job's finished tasks (learned). The snapshot says which
  (`duration_source`); with neither, it stays unknown and nothing waits on it.
- An agent is expected empty at the latest expected end (start + expected duration) of its
  live tasks; unknown as soon as one of them has no start time or no expected duration.
- A pool boots in the mean time its instances took from first sighting without an agent
  to a registered agent (measured between passes, so up to one interval short).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

from controlplane.aws.replies import ObservedGroup
from controlplane.mesos.replies import AgentView
from controlplane.model import Agent, Pool, Task
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


def empty_times(views: Sequence[AgentView], stats: DurationStats) -> dict[str, datetime]:
    """Agent id -> when its live tasks are all expected to have ended (known ones only)."""
    out: dict[str, datetime] = {}
    for view in views:
        ends = []
        for task in view.tasks:
            seconds, _ = expected(task.labels.get(JOB_LABEL), _seconds(task.labels), stats)
            if task.started_at is None or seconds is None:
                break
            ends.append(task.started_at + seconds)
        else:
            if ends:
                out[view.id] = datetime.fromtimestamp(max(ends), UTC)
    return out


def with_empty_times(agents: Sequence[Agent], empty: Mapping[str, datetime]) -> list[Agent]:
    return [
        a.model_copy(update={"expected_empty_at": empty[a.id]}) if a.id in empty else a
        for a in agents
    ]


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
