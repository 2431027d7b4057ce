"""Finished tasks' duration samples kept between passes until a commit stores them.

Every finished task is a sample, so on a busy cluster learning changes the `durations` item
in nearly every pass, and a pass with nothing else to record wrote the state table for it
alone: most of a day's state writes. Instead the samples stay here and are learned again on
top of what the next pass loads, until a commit stores them: one with any other change, or
one made because `STORE_EVERY_S` has passed since the last store. What the planner sees is
what a write every pass would give (the same samples, in the same order, on the same stored
base); a failover loses at most `STORE_EVERY_S` of samples, which only weigh running means.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

#: Learned durations are stored at least this often (seconds) while they change.
STORE_EVERY_S = 300.0
#: Samples kept at most (a dry run never stores any); the oldest go first.
MAX_UNSTORED = 10_000


@dataclass
class UnstoredSamples:
    """(job, seconds) samples that no commit has stored yet, oldest first."""

    samples: list[tuple[str, float]] = field(default_factory=list)
    stored_at: datetime | None = None

    def take(self, fresh: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
        """Every sample not yet stored, `fresh` (this pass's) last."""
        self.samples = [*self.samples, *fresh][-MAX_UNSTORED:]
        return list(self.samples)

    def due(self, now: datetime) -> bool:
        """Whether a pass should store changed durations even with nothing else to write."""
        return self.stored_at is None or (now - self.stored_at).total_seconds() >= STORE_EVERY_S

    def stored(self, count: int, now: datetime) -> None:
        """The first `count` samples are in the table now."""
        del self.samples[:count]
        self.stored_at = now
