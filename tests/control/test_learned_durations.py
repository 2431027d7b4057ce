"""Learned durations: carried between passes, stored with other writes or every few minutes."""

from __future__ import annotations

from dataclasses import dataclass, field

from controlplane.control.unstored_samples import MAX_UNSTORED, STORE_EVERY_S, UnstoredSamples
from controlplane.sim.clock import VirtualClock, utc
from controlplane.sim.world import SimWorld
from tests.control.conftest import ListDemand, Loop


@dataclass
class FinishingDemand(ListDemand):
    """A demand source that also reports finished tasks, as the framework's queue does."""

    finished: list[tuple[str, float]] = field(default_factory=list)

    def take_finished(self) -> list[tuple[str, float]]:
        out, self.finished = self.finished, []
        return out


def test_samples_are_learned_every_pass_and_stored_only_now_and_then(
    world: SimWorld, clock: VirtualClock
) -> None:
    demand = FinishingDemand()
    loop = Loop(world, clock, demand)
    loop.step()

    def writes() -> int:
        return loop.writes("TransactWriteItems")

    def stored() -> tuple[int, float] | None:
        mean = loop.parts.store.load().durations.jobs.get("j")
        return None if mean is None else (mean.count, mean.mean_s)

    demand.finished = [("j", 100.0)]
    loop.step(30)
    assert stored() == (1, 100.0)  # nothing was stored before: stored at once
    before = writes()
    demand.finished = [("j", 200.0)]
    second = loop.step(30)
    assert second.durations is not None and second.durations.jobs["j"].mean_s == 150.0
    assert writes() == before and stored() == (1, 100.0)  # learned, not written
    third = loop.step(30)  # nothing new: the sample is carried, not lost or counted twice
    assert third.durations is not None and third.durations.jobs["j"].count == 2
    assert writes() == before
    loop.step(STORE_EVERY_S)
    assert stored() == (2, 150.0) and writes() == before + 1
    fourth = loop.step(30)  # stored: not learned a second time on top of the table
    assert fourth.durations is not None and fourth.durations.jobs["j"].count == 2
    assert writes() == before + 1


def test_a_new_process_plans_with_what_was_stored(world: SimWorld, clock: VirtualClock) -> None:
    """The cost of storing now and then: a failover forgets at most STORE_EVERY_S of samples."""
    demand = FinishingDemand()
    loop = Loop(world, clock, demand)
    demand.finished = [("j", 100.0)]
    loop.step()
    demand.finished = [("j", 300.0)]
    assert loop.step(30).durations.jobs["j"].count == 2  # type: ignore[union-attr]
    loop.restart()
    after = loop.step(30)
    assert after.durations is not None and after.durations.jobs["j"].count == 1


def test_unstored_samples_are_bounded_and_cleared_by_count() -> None:
    samples = UnstoredSamples()
    now = utc(1_000.0)
    assert samples.due(now)
    assert len(samples.take([("j", 1.0)] * (MAX_UNSTORED + 5))) == MAX_UNSTORED
    samples.stored(MAX_UNSTORED, now)
    taken = samples.take([("j", 1.0), ("j", 2.0)])
    samples.take([("k", 3.0)])
    samples.stored(len(taken), now)  # what one pass took; a later sample stays
    assert samples.samples == [("k", 3.0)]
    assert not samples.due(utc(1_000.0 + STORE_EVERY_S - 1))
    assert samples.due(utc(1_000.0 + STORE_EVERY_S))
