"""A Mesos framework on pymesos that launches queued tasks where the planner puts them.

Offers in, `plan()` over a snapshot of the offered resources, LAUNCH for placements and
DECLINE (with a filter) for the rest. It suppresses offers while nothing is pending and
revives when work arrives, reconciles its tasks on every (re)subscription, persists its
framework id so a restart fails over instead of starting afresh, and never sends TEARDOWN
unless asked. pymesos interrupts the main thread when a callback raises, so every callback
runs inside `_guarded`: the exception is logged and counted, the driver lives on.
"""

from __future__ import annotations

import functools
import getpass
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from pymesos import MesosSchedulerDriver, Scheduler

from controlplane.demand.queue import TaskQueue
from controlplane.mesos.id_store import FrameworkIdStore
from controlplane.mesos.offers import (
    LaunchHints,
    OfferedAgent,
    group_offers,
    offers_snapshot,
    task_info,
)
from controlplane.mesos.task_labels import EXCLUSIVE, constraint_labels
from controlplane.model import Task
from controlplane.planning import plan

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., None])


def _guarded(method: F) -> F:
    """Log and count an exception instead of letting it reach pymesos's IO thread."""

    @functools.wraps(method)
    def wrapper(self: PlanningScheduler, *args: Any) -> None:
        try:
            method(self, *args)
        except Exception:
            self.callback_errors += 1
            log.exception("scheduler callback %s failed; the driver carries on", method.__name__)

    return wrapper  # type: ignore[return-value]


class PlanningScheduler(Scheduler):  # type: ignore[misc]
    """The pymesos callbacks. Driver calls made here are guarded like the callbacks."""

    def __init__(
        self,
        queue: TaskQueue,
        store: FrameworkIdStore,
        *,
        refuse_seconds: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        commands: Mapping[str, Sequence[str]] | None = None,
        default_command: str | None = None,
    ) -> None:
        """`commands`: the allowed commands by name (None: every task runs `true`, for
        tests and the emulator); a task names one, or runs `default_command`."""
        self.queue = queue
        self.store = store
        self.refuse_seconds = refuse_seconds
        self.commands = commands
        self.default_command = default_command
        self.clock = clock
        self.callback_errors = 0
        self.suppressed = False
        self.errors: list[str] = []
        self.rescinded: list[str] = []
        self.updates: list[tuple[str, str, str | None]] = []
        self.registered_event = threading.Event()
        self.driver: Any = None
        self._lock = threading.RLock()
        #: What the loop's last pass knew of durations and agents' expected empty times.
        self.hints = LaunchHints()

    # ---- registration -------------------------------------------------------------------

    @_guarded
    def registered(self, driver: Any, framework_id: Any, master_info: Any) -> None:
        self.store.save(str(framework_id["value"]))
        log.info("registered as %s with %s", framework_id["value"], master_info)
        self._subscribed(driver)

    @_guarded
    def reregistered(self, driver: Any, master_info: Any) -> None:
        log.info("re-registered with %s", master_info)
        self._subscribed(driver)

    def _subscribed(self, driver: Any) -> None:
        self.driver = driver
        live = self.queue.live()
        if live:
            # Explicit reconciliation: the master answers with each task's latest state.
            driver.reconcileTasks(
                [
                    {"task_id": {"value": t}, "agent_id": {"value": a}}
                    for t, a in sorted(live.items())
                ]
            )
        # A (re)subscription starts unsuppressed; match the queue.
        self.suppressed = False
        self.sync_offers(driver)
        self.registered_event.set()

    def reconcile_outstanding(self) -> int:
        """Ask again about loaded tasks Mesos has not answered for (any thread; never
        raises); how many were asked about."""
        driver = self.driver
        waiting = self.queue.unreconciled()
        if driver is None or not waiting:
            return 0
        tasks: list[dict[str, Any]] = []
        for task_id, agent_id in waiting.items():
            task: dict[str, Any] = {"task_id": {"value": task_id}}
            if agent_id:
                task["agent_id"] = {"value": agent_id}
            tasks.append(task)
        try:
            driver.reconcileTasks(tasks)
        except Exception:
            self.callback_errors += 1
            log.exception("reconciliation request failed; asked again later")
        return len(tasks)

    @_guarded
    def disconnected(self, driver: Any) -> None:
        self.registered_event.clear()
        log.warning("disconnected from the master; pymesos reconnects")

    @_guarded
    def error(self, driver: Any, message: str) -> None:
        # ERROR means failed over by another instance or removed: stop without TEARDOWN,
        # which would kill the tasks the new instance now owns.
        self.errors.append(message)
        log.error("master says: %s; stopping this driver (no teardown)", message)
        driver.stop(failover=True)

    # ---- offers -------------------------------------------------------------------------

    @_guarded
    def resourceOffers(  # noqa: N802 (pymesos's callback name)
        self, driver: Any, offers: list[Any]
    ) -> None:
        with self._lock:
            self._offers(driver, offers)

    def _offers(self, driver: Any, offers: list[Any]) -> None:
        pending = self.queue.pending()
        filters = {"refuse_seconds": self.refuse_seconds}
        offered = group_offers(offers)
        if not pending:
            driver.declineOffer([o["id"] for o in offers], filters)
            self.sync_offers(driver, considered=set())
            return
        try:
            by_agent = self._placements(offered, pending)
        except Exception:
            # Never hoard offers we could not plan for: give them back for a moment (the
            # next round retries), then let the guard log the failure.
            driver.declineOffer([o["id"] for o in offers], {"refuse_seconds": 1.0})
            raise
        infos: dict[str, list[dict[str, Any]]] = {}
        for agent_id, task_ids in by_agent.items():
            for tid in task_ids:
                argv = self._argv(tid)
                if argv is None:
                    continue
                info = task_info(self.queue.submission(tid), agent_id, argv)
                infos.setdefault(agent_id, []).append(info)
        try:
            # Durable before the ACCEPT: a leader that dies now leaves a record a successor
            # reconciles, never a task that runs unknown to the queue.
            self.queue.launching(
                {i["task_id"]["value"]: a for a, batch in infos.items() for i in batch}
            )
        except Exception:
            driver.declineOffer([o["id"] for o in offers], {"refuse_seconds": 1.0})
            raise
        declined: list[dict[str, str]] = []
        for agent_id, entry in sorted(offered.items()):
            ids = [{"value": oid} for oid in entry.offer_ids]
            if agent_id in infos:
                driver.launchTasks(ids, infos[agent_id], filters)  # an ACCEPT is one agent's
            else:
                declined += ids
        if declined:  # one DECLINE for every agent left out, not a call each
            driver.declineOffer(declined, filters)
        by_id = {t.id: t for t in pending}
        launched = {a: [by_id[i["task_id"]["value"]] for i in batch] for a, batch in infos.items()}
        self.hints = self.hints.launched(launched, self.clock())
        self.sync_offers(driver, considered={t.id for t in pending})

    def _argv(self, task_id: str) -> Sequence[str] | None:
        """The allowed command a task runs; None (and the task ended) if it is no longer
        allowed (it was checked at submission; the configuration changed since)."""
        if self.commands is None:
            return ("true",)
        name = self.queue.submission(task_id).command or self.default_command
        if name is not None and name in self.commands:
            return self.commands[name]
        self.queue.update(task_id, "TASK_ERROR", f"command {name!r} is no longer allowed")
        return None

    def _placements(
        self, offered: dict[str, OfferedAgent], pending: list[Task]
    ) -> dict[str, list[str]]:
        """Agent id -> task ids the planner puts there, within the offered resources."""
        running: dict[str, dict[str, int]] = {}
        exclusive: set[str] = set()  # agents one of our hard exclusive tasks keeps to itself
        for task_id, agent_id in self.queue.live().items():
            sub = self.queue.submission(task_id)
            per_agent = running.setdefault(agent_id, {})
            per_agent[sub.job_name] = per_agent.get(sub.job_name, 0) + 1
            if EXCLUSIVE in constraint_labels(sub):
                exclusive.add(agent_id)
        snapshot = offers_snapshot(offered, pending, running, self.clock(), self.hints, exclusive)
        result = plan(snapshot)
        by_agent: dict[str, list[str]] = {}
        for placement in result.placements:
            if placement.agent is not None:
                by_agent.setdefault(placement.agent, []).append(placement.task)
        return by_agent

    @_guarded
    def offerRescinded(  # noqa: N802 (pymesos's callback name)
        self, driver: Any, offer_id: Any
    ) -> None:
        self.rescinded.append(str(offer_id["value"]))

    def sync_offers(self, driver: Any, considered: set[str] | None = None) -> None:
        """Suppress when nothing waits; revive when something does. After declining offers
        planned for the tasks `considered`, revive too if others arrived meanwhile: the
        decline's filter would otherwise keep them off those agents for refuse_seconds."""
        waiting = self.queue.pending()
        want = bool(waiting)
        arrived = considered is not None and any(t.id not in considered for t in waiting)
        if want and (self.suppressed or arrived):
            driver.reviveOffers()
            self.suppressed = False
        elif not want and not self.suppressed:
            driver.suppressOffers()
            self.suppressed = True

    def set_hints(self, hints: LaunchHints) -> None:
        """The loop's view after a pass (any thread): the next offers are planned with it."""
        with self._lock:
            self.hints = hints

    def work_arrived(self) -> None:
        """Queue listener (any thread): revive if suppressed. Never raises."""
        driver = self.driver
        if driver is None:
            return
        try:
            with self._lock:
                self.sync_offers(driver)
        except Exception:
            self.callback_errors += 1
            log.exception("revive after new work failed; the next subscription retries")

    def kill(self, task_id: str) -> bool:
        """Ask Mesos to kill one of our tasks (the loop relocates it); whether it went out.
        Never raises: a kill that does not go out is sent again by the next pass (pymesos
        drops a call made while it reconnects without a word, so that is checked first)."""
        driver = self.driver
        if driver is None or not getattr(driver, "connected", False):
            return False
        try:
            driver.killTask({"value": task_id})
        except Exception:
            self.callback_errors += 1
            log.exception("kill of task %s failed; the next pass sends it again", task_id)
            return False
        return True

    # ---- task status --------------------------------------------------------------------

    @_guarded
    def statusUpdate(  # noqa: N802 (pymesos's callback name)
        self, driver: Any, status: Any
    ) -> None:
        try:
            self._status(status)
        finally:
            # Acknowledged here, not by pymesos: its implicit acknowledgement runs outside
            # any guard, and a refused ACKNOWLEDGE there would interrupt the main thread.
            if "uuid" in status:
                driver.acknowledgeStatusUpdate(status)

    def _status(self, status: Any) -> None:
        task_id = str(status["task_id"]["value"])
        state = str(status["state"])
        reason = status.get("reason")
        self.updates.append((task_id, state, reason))
        if state == "TASK_LOST" and reason == "REASON_INVALID_OFFERS":
            # The offer went stale before our ACCEPT: the task never started, run it later.
            if self.queue.state(task_id) is not None:
                self.queue.requeue(task_id)
            return
        at = status.get("timestamp")
        stamp = float(at) if isinstance(at, int | float) and not isinstance(at, bool) else None
        if not self.queue.update(task_id, state, status.get("message"), reason, stamp):
            log.warning("status %s for unknown task %s", state, task_id)

    @_guarded
    def slaveLost(  # noqa: N802 (pymesos's callback name)
        self, driver: Any, agent_id: Any
    ) -> None:
        log.warning("agent %s lost", agent_id["value"])


class MesosFramework:
    """Runs a `PlanningScheduler` under a pymesos driver against `master` (`host:port`)."""

    def __init__(
        self,
        master: str,
        queue: TaskQueue,
        store: FrameworkIdStore,
        *,
        name: str = "controlplane",
        user: str | None = None,
        failover_timeout_s: float = 7 * 86400.0,
        refuse_seconds: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        scheduler: PlanningScheduler | None = None,
        credentials: tuple[str, str] | None = None,
        commands: Mapping[str, Sequence[str]] | None = None,
        default_command: str | None = None,
    ) -> None:
        self.master = master
        self.credentials = credentials
        self.queue = queue
        self.store = store
        self.scheduler = scheduler or PlanningScheduler(
            queue,
            store,
            refuse_seconds=refuse_seconds,
            clock=clock,
            commands=commands,
            default_command=default_command,
        )
        self.framework_info: dict[str, Any] = {
            **({"principal": credentials[0]} if credentials is not None else {}),
            "user": user or getpass.getuser(),
            "name": name,
            "failover_timeout": failover_timeout_s,
            "checkpoint": True,
        }
        self.driver: Any = None
        queue.on_new_work(self.scheduler.work_arrived)
        queue.attach_killer(self.scheduler.kill)

    def start(self) -> None:
        info = dict(self.framework_info)
        known = self.store.load()
        if known:
            info["id"] = {"value": known}
        # failover=True from the start: if the IO thread dies, pymesos must not TEARDOWN.
        self.driver = MesosSchedulerDriver(
            self.scheduler,
            info,
            self.master,
            use_addict=True,
            failover=True,
            implicit_acknowledgements=False,
            principal=None if self.credentials is None else self.credentials[0],
            secret=None if self.credentials is None else self.credentials[1],
        )
        self.driver.start()

    def wait_registered(self, timeout_s: float) -> bool:
        return self.scheduler.registered_event.wait(timeout_s)

    def stop(self, *, teardown: bool = False) -> None:
        """Stop the driver. Tasks keep running unless `teardown` (then the id is forgotten)."""
        driver, self.driver = self.driver, None
        if driver is None:
            return
        self.scheduler.driver = None  # new work no longer revives a stopped driver
        driver.stop(failover=not teardown)
        driver.join()
        if teardown:
            self.store.clear()
