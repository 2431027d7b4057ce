"""What the loop has learned about time: how long each job's tasks run, how long each pool's
instances take to boot. Kept in the state table (one `durations` item), so a new leader
plans with what the old one learned.

Each figure is a running mean over the last `WINDOW` samples (older samples weigh less as
new ones come), with its sample count, so the snapshot can say "learned from N tasks".
At most `MAX_JOBS` jobs are kept, the least recently updated dropped first.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

WINDOW = 50
MAX_JOBS = 2000


class Mean(BaseModel):
    """A running mean of durations (seconds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(ge=1)
    mean_s: float = Field(gt=0, allow_inf_nan=False)
    #: Seconds since the epoch of the last sample (for trimming).
    updated: float = Field(ge=0, allow_inf_nan=False)

    def add(self, seconds: float, at: float) -> Mean:
        weight = min(self.count + 1, WINDOW)
        mean = self.mean_s + (seconds - self.mean_s) / weight
        return Mean(count=self.count + 1, mean_s=max(mean, 1e-3), updated=at)


class DurationStats(BaseModel):
    """Job -> task duration, pool -> boot time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    jobs: dict[str, Mean] = Field(default_factory=dict)
    boot: dict[str, Mean] = Field(default_factory=dict)

    def learn(
        self, jobs: Iterable[tuple[str, float]], boots: Iterable[tuple[str, float]], at: float
    ) -> DurationStats:
        """With new samples ((job, seconds) of finished tasks, (pool, seconds) of boots)."""
        new_jobs = _added(self.jobs, jobs, at)
        if len(new_jobs) > MAX_JOBS:
            keep = sorted(new_jobs, key=lambda j: (new_jobs[j].updated, j))[-MAX_JOBS:]
            new_jobs = {j: new_jobs[j] for j in sorted(keep)}
        new_boot = _added(self.boot, boots, at)
        if new_jobs == self.jobs and new_boot == self.boot:
            return self
        return DurationStats(jobs=new_jobs, boot=new_boot)


def _added(
    means: dict[str, Mean], samples: Iterable[tuple[str, float]], at: float
) -> dict[str, Mean]:
    out = dict(means)
    for name, seconds in samples:
        if not seconds > 0 or seconds == float("inf"):
            continue  # a clock step or a broken status: not a duration
        old = out.get(name)
        out[name] = (
            Mean(count=1, mean_s=seconds, updated=at) if old is None else old.add(seconds, at)
        )
    return out
