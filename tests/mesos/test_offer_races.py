"""Work that arrives while the framework answers offers: the decline's filter must not keep it
off the declined agents for refuse_seconds.

The interleaving (a submission landing between `_offers` reading the queue and declining) is
forced here with a driver that records calls and submits from inside `declineOffer`: no real
part can be made to land a call at that instant every time.
"""

from __future__ import annotations

from typing import Any

from controlplane.demand.queue import TaskQueue
from controlplane.demand.submission import Submission
from controlplane.mesos.framework import PlanningScheduler
from controlplane.mesos.id_store import MemoryIdStore
from tests.support.mesos_calls import scalar_offer


def _sub(ident: str, cpus: float = 1.0) -> Submission:
    return Submission(id=ident, job="j", resources={"cpus": cpus, "mem": 100.0})


class ArrivingDriver:
    """Records driver calls; the first decline lands `arrivals` in the queue first."""

    def __init__(self, queue: TaskQueue, arrivals: list[Submission]) -> None:
        self.queue = queue
        self.arrivals = arrivals
        self.calls: list[str] = []
        self.declined: list[list[Any]] = []

    def declineOffer(self, ids: Any, filters: Any = None) -> None:  # noqa: N802
        self.calls.append("decline")
        self.declined.append(list(ids))
        if self.arrivals:
            self.queue.submit(self.arrivals)
            self.arrivals = []

    def launchTasks(self, ids: Any, tasks: Any, filters: Any = None) -> None:  # noqa: N802
        self.calls.append("launch")

    def reviveOffers(self) -> None:  # noqa: N802
        self.calls.append("revive")

    def suppressOffers(self) -> None:  # noqa: N802
        self.calls.append("suppress")


def test_work_arriving_while_idle_offers_are_declined_revives_them() -> None:
    queue = TaskQueue()
    driver = ArrivingDriver(queue, [_sub("late")])
    scheduler = PlanningScheduler(queue, MemoryIdStore())
    scheduler.resourceOffers(driver, [scalar_offer("A", 4.0)])
    assert driver.calls == ["decline", "revive"]
    assert not scheduler.suppressed


def test_work_arriving_while_offers_are_planned_revives_the_declined_agents() -> None:
    queue = TaskQueue()
    queue.submit([_sub("big", cpus=4.0)])
    driver = ArrivingDriver(queue, [_sub("late")])
    scheduler = PlanningScheduler(queue, MemoryIdStore())
    # "big" takes A; B is declined (nothing else was pending), and "late" lands meanwhile.
    scheduler.resourceOffers(driver, [scalar_offer("A", 4.0), scalar_offer("B", 4.0)])
    assert driver.calls == ["launch", "decline", "revive"]


def test_nothing_new_means_no_revive_and_idle_offers_suppress() -> None:
    queue = TaskQueue()
    driver = ArrivingDriver(queue, [])
    scheduler = PlanningScheduler(queue, MemoryIdStore())
    scheduler.resourceOffers(driver, [scalar_offer("A", 4.0)])
    assert driver.calls == ["decline", "suppress"]
    queue.submit([_sub("huge", cpus=64.0)])  # fits nowhere offered: declined, no revive
    scheduler.sync_offers(driver)
    driver.calls.clear()
    scheduler.resourceOffers(driver, [scalar_offer("A", 4.0)])
    assert driver.calls == ["decline"]


def test_every_agent_left_out_is_declined_in_one_call() -> None:
    """One DECLINE names the offers of every agent that got nothing (Mesos takes offers of
    many agents in one), where an ACCEPT is one agent's: a call per agent was most of a
    day's calls to the master."""
    queue = TaskQueue()
    queue.submit([_sub("one", cpus=4.0)])
    driver = ArrivingDriver(queue, [])
    scheduler = PlanningScheduler(queue, MemoryIdStore())
    offers = [scalar_offer(agent, 4.0) for agent in ("A", "B", "C", "D")]
    scheduler.resourceOffers(driver, offers)
    assert driver.calls == ["launch", "decline", "suppress"]
    assert len(driver.declined[0]) == 3
