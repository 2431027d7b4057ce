"""The planning framework on real pymesos against the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controlplane.demand.queue import TaskQueue
from controlplane.demand.submission import Submission
from controlplane.mesos.framework import MesosFramework
from controlplane.mesos.id_store import JsonFileIdStore, MemoryIdStore
from controlplane.planning import plan
from controlplane.sim.mesos_master import MasterCore, MesosMasterEmulator
from tests.mesos.conftest import Factory, add_agents
from tests.support.mesos_calls import wait_for


def subs(n: int, prefix: str = "t", cpus: float = 1.0, **labels: str) -> list[Submission]:
    return [
        Submission(
            id=f"{prefix}{i}",
            job=prefix,
            resources={"cpus": cpus, "mem": 256.0},
            labels=dict(labels),
        )
        for i in range(n)
    ]


def test_bin_packs_launches_and_tasks_finish(
    emulator: MesosMasterEmulator, frameworks: Factory, driver_aborts: list[BaseException]
) -> None:
    queue = TaskQueue()
    fw = frameworks(queue)
    core = emulator.core
    wait_for(
        lambda: core.frameworks and all(f.suppressed for f in core.frameworks.values()),
        what="SUPPRESS while nothing is pending",
    )
    queue.submit(subs(6, duration_s="0.5"))
    wait_for(lambda: queue.counts() == {"finished": 6}, what="six tasks to finish")
    used = {t.agent_id for t in core.completed_tasks}
    assert len(used) == 2  # 6 one-cpu tasks packed onto two 4-cpu agents, not spread on three
    wait_for(lambda: fw.scheduler.suppressed, what="suppress again once the queue is empty")
    assert fw.scheduler.callback_errors == 0 and driver_aborts == []


def test_failed_and_unplaceable_tasks(emulator: MesosMasterEmulator, frameworks: Factory) -> None:
    queue = TaskQueue()
    frameworks(queue)
    queue.submit(subs(1, "bad", outcome="failed", duration_s="0.2") + subs(1, "huge", cpus=64))
    wait_for(lambda: queue.state("bad0") == "failed", what="TASK_FAILED")
    assert queue.state("huge0") == "queued"  # no offer can hold it: it waits, never launched


def test_callback_that_raises_does_not_kill_the_driver(
    emulator: MesosMasterEmulator, frameworks: Factory, driver_aborts: list[BaseException]
) -> None:
    class Flaky(TaskQueue):
        broke = False

        def update(
            self,
            task_id: str,
            mesos_state: str,
            message: str | None = None,
            reason: str | None = None,
            at: float | None = None,
        ) -> bool:
            if not self.broke:
                self.broke = True
                raise RuntimeError("callback bug")
            return super().update(task_id, mesos_state, message, reason, at)

    queue = Flaky()
    fw = frameworks(queue)
    queue.submit(subs(2, duration_s="0.3"))
    wait_for(lambda: queue.counts().get("finished") == 2, what="tasks to finish after the bug")
    assert fw.scheduler.callback_errors == 1
    assert driver_aborts == []


def test_stop_without_teardown_keeps_tasks_and_restart_fails_over(
    emulator: MesosMasterEmulator, frameworks: Factory, driver_aborts: list[BaseException]
) -> None:
    queue, store = TaskQueue(), MemoryIdStore()
    fw = frameworks(queue, store)
    queue.submit(subs(2))
    wait_for(lambda: queue.counts() == {"running": 2}, what="two running tasks")
    framework_id = store.load()
    fw.stop()
    core = emulator.core
    wait_for(lambda: core.frameworks[str(framework_id)].stream is None, what="disconnect")
    assert core.find_task(str(framework_id), "t0") is not None  # still running
    again = frameworks(queue, store)
    assert store.load() == framework_id
    # Reconciliation on re-subscription reports both tasks running.
    wait_for(
        lambda: (
            sum(
                1
                for t, s, r in again.scheduler.updates
                if s == "TASK_RUNNING" and r == "REASON_RECONCILIATION"
            )
            == 2
        ),
        what="reconciliation answers",
    )
    again.stop(teardown=True)
    assert store.load() is None
    wait_for(lambda: core.find_task(str(framework_id), "t0") is None, what="teardown kills")
    assert driver_aborts == []


def test_second_instance_with_the_same_id_takes_over(
    emulator: MesosMasterEmulator, frameworks: Factory, driver_aborts: list[BaseException]
) -> None:
    queue, store = TaskQueue(), MemoryIdStore()
    first = frameworks(queue, store)
    queue.submit(subs(1))
    wait_for(lambda: queue.counts() == {"running": 1}, what="one running task")
    second = frameworks(queue, store)
    wait_for(lambda: first.scheduler.errors == ["Framework failed over"], what="ERROR")
    framework_id = str(store.load())
    assert second.scheduler.registered_event.is_set()
    assert emulator.core.find_task(framework_id, "t0") is not None  # no teardown by the first
    assert driver_aborts == []


def test_json_file_store(tmp_path: Path) -> None:
    store = JsonFileIdStore(tmp_path / "state" / "framework.json")
    assert store.load() is None
    store.save("M-0001")
    assert JsonFileIdStore(store.path).load() == "M-0001"
    store.path.write_text("{broken")
    with pytest.raises(ValueError, match="unreadable framework id store"):
        store.load()
    store.clear()
    assert store.load() is None


def test_framework_follows_master_failover_and_reconciles(
    driver_aborts: list[BaseException],
) -> None:
    core = MasterCore(allocation_interval_s=0.2)
    add_agents(core)
    with MesosMasterEmulator(core) as first, MesosMasterEmulator(core, leader=False) as second:
        second.become_standby(first.address)
        queue = TaskQueue()
        fw = MesosFramework(
            first.address, queue, MemoryIdStore(), user="test", failover_timeout_s=60
        )
        fw.start()
        try:
            assert fw.wait_registered(10)
            queue.submit(subs(2))
            wait_for(lambda: queue.counts() == {"running": 2}, what="two running tasks")
            second.become_leader()
            first.become_standby(second.address)
            wait_for(
                lambda: (
                    sum(
                        1
                        for _, s, r in fw.scheduler.updates
                        if s == "TASK_RUNNING" and r == "REASON_RECONCILIATION"
                    )
                    == 2
                ),
                what="reconciliation through the new leader",
            )
            queue.submit(subs(1, "after", duration_s="0.2"))
            wait_for(lambda: queue.state("after0") == "finished", what="work after failover")
        finally:
            fw.stop()
    assert driver_aborts == []


def test_planning_failure_gives_offers_back_and_retries(
    emulator: MesosMasterEmulator,
    frameworks: Factory,
    monkeypatch: pytest.MonkeyPatch,
    driver_aborts: list[BaseException],
) -> None:
    calls: list[int] = []

    def flaky_plan(snapshot: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("planner bug")
        return plan(snapshot)

    monkeypatch.setattr("controlplane.mesos.framework.plan", flaky_plan)
    queue = TaskQueue()
    fw = frameworks(queue)
    queue.submit(subs(1, duration_s="0.2"))
    wait_for(lambda: queue.state("t0") == "finished", what="the task to run after the failure")
    assert fw.scheduler.callback_errors == 1 and len(calls) >= 2
    assert driver_aborts == []
