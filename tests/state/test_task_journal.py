"""The framework's queue in DynamoDB: stored before it is acknowledged, fenced, reloaded
by the next leader with every task it owes, and ended tasks cleaned up."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from controlplane.demand.queue import JournalError, TaskQueue
from controlplane.demand.submission import parse_submissions
from controlplane.state import Lease, LeaseLostError, StateChanges, StateStore
from controlplane.state.task_journal import TaskJournal
from tests.state.conftest import NOW


def subs(*ids: str) -> Any:
    return parse_submissions([{"id": i, "job": "j", "resources": {"cpus": 1}} for i in ids])


def queue_of(store: StateStore, lease: list[Lease | None], at: datetime = NOW) -> TaskQueue:
    queue = TaskQueue(max_relaunches=2)
    queue.attach_journal(TaskJournal(store, lambda: lease[0], lambda: at))
    queue.load()
    return queue


def test_a_new_leader_loads_what_the_last_one_accepted(store: StateStore) -> None:
    first = [store.acquire("a", NOW, 30)]
    old = queue_of(store, first)
    old.submit(subs("t1", "t2", "t3"))
    old.launching({"t1": "S1", "t2": "S2"})
    old.update("t2", "TASK_FINISHED")  # its deletion is written lazily...
    old.flush()  # ...here
    # The leader dies; another takes over once the lease has expired.
    second = [store.acquire("b", NOW + timedelta(seconds=31), 30)]
    new = queue_of(store, second, NOW + timedelta(seconds=31))
    assert new.counts() == {"launched": 1, "queued": 1}
    assert new.live() == {"t1": "S1"}
    assert new.not_ready() == "reconciling 1 tasks with Mesos"
    assert new.unreconciled() == {"t1": "S1"}
    with pytest.raises(Exception, match="'t1' is already launched"):
        new.submit(subs("t1"))  # duplicate ids stay refused across failover
    new.update("t1", "TASK_RUNNING")
    assert new.not_ready() is None
    assert new.submit(subs("t2")) == ["t2"]  # an ended id may come again


def test_a_deposed_leader_cannot_queue(store: StateStore) -> None:
    lease = [store.acquire("a", NOW, 30)]
    queue = queue_of(store, lease)
    store.acquire("b", NOW + timedelta(seconds=31), 30)  # a's lease expired, b took over
    with pytest.raises(JournalError, match="no longer holds"):
        queue.submit(subs("t1"))
    assert queue.pending() == []  # nothing acknowledged that is not stored
    lease[0] = None
    with pytest.raises(JournalError, match="not the leader"):
        queue.submit(subs("t1"))


def test_lost_tasks_are_relaunched_a_bounded_number_of_times(store: StateStore) -> None:
    lease = [store.acquire("a", NOW, 30)]
    queue = queue_of(store, lease)
    queue.submit(subs("t1"))
    for attempt in (1, 2):
        queue.launching({"t1": f"S{attempt}"})
        queue.update("t1", "TASK_LOST", "agent removed", "REASON_AGENT_REMOVED")
        entry = queue.entry("t1")
        assert entry is not None and entry.state == "queued" and entry.relaunches == attempt
    queue.launching({"t1": "S3"})
    queue.update("t1", "TASK_GONE", "agent gone")
    entry = queue.entry("t1")
    assert entry is not None and entry.state == "gone after 2 relaunches"
    assert len(entry.reasons) == 2 and "REASON_AGENT_REMOVED" in entry.reasons[0]
    queue.flush()
    assert store.load_tasks() == []
    reloaded = queue_of(store, lease)
    assert reloaded.counts() == {}


def test_the_queue_partition_stays_out_of_the_pass_state(store: StateStore) -> None:
    lease = [store.acquire("a", NOW, 30)]
    queue_of(store, lease).submit(subs(*[f"t{i}" for i in range(99)]))
    assert len(store.load_tasks()) == 99
    assert store.load().intents == {}  # the pass's one Query never reads the tasks


def test_cancelled_transactions_are_retried_unless_the_lease_check_failed(
    store: StateStore,
) -> None:
    lease = store.acquire("a", NOW, 30)
    assert lease is not None
    client: Any = store.dynamodb
    cancels = {"left": 2}

    def conflict(**kw: Any) -> Any:
        if cancels["left"] <= 0:
            return None
        cancels["left"] -= 1
        from botocore.awsrequest import AWSResponse, HTTPHeaders  # noqa: PLC0415

        body = (
            b'{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException",'
            b'"Message":"Transaction cancelled","CancellationReasons":'
            b'[{"Code":"None"},{"Code":"TransactionConflict"}]}'
        )
        return AWSResponse("https://x", 400, HTTPHeaders(), _Raw(body))

    client.meta.events.register_first("before-send.dynamodb.TransactWriteItems", conflict)
    try:
        store.commit(lease, NOW, StateChanges(delete_intents=["x"]))  # retried twice, lands
        assert cancels["left"] == 0
        store.acquire("b", NOW + timedelta(seconds=31), 30)
        with pytest.raises(LeaseLostError):
            store.commit(lease, NOW + timedelta(seconds=32), StateChanges(delete_intents=["x"]))
    finally:
        client.meta.events.unregister("before-send.dynamodb.TransactWriteItems", conflict)


class _Raw:
    """A raw body for botocore's AWSResponse."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data

    def read(self) -> bytes:
        return self._data


def test_a_relocation_is_stored_before_the_kill_and_survives_a_failover(
    store: StateStore,
) -> None:
    lease = [store.acquire("a", NOW, 30)]
    queue = queue_of(store, lease)
    killed: list[str] = []
    assert queue.relocate("t1", "cordoned") is False  # unknown
    queue.submit(subs("t1", "t2"))
    queue.launching({"t1": "S1", "t2": "S1"})
    queue.update("t1", "TASK_RUNNING", at=100.0)
    assert queue.relocate("t1", "cordoned") is False  # no driver to kill it yet

    def kill(task_id: str) -> bool:  # the driver: by then the mark must be stored
        stored = {i["item"]["S"]: i for i in store.load_tasks()}
        assert '"relocating":"agent S1 cordoned 900s"' in stored["task#t1"]["body"]["S"]
        killed.append(task_id)
        return True

    queue.attach_killer(kill)
    assert queue.relocate("t3", "cordoned") is False  # not a task of this queue
    assert queue.relocate("t1", "agent S1 cordoned 900s") is True
    assert killed == ["t1"] and queue.relocating() == {"t1": "S1"}
    # The leader dies before Mesos answers; the next one loads the mark ...
    second = [store.acquire("b", NOW + timedelta(seconds=31), 30)]
    new = queue_of(store, second, NOW + timedelta(seconds=31))
    assert new.relocating() == {"t1": "S1"}
    # ... and queues the task again when its kill is reported (not a relaunch).
    new.update("t1", "TASK_KILLED", "killed")
    entry = new.entry("t1")
    assert entry is not None and entry.state == "queued" and entry.relaunches == 0
    assert entry.relocations == 1 and entry.relocating is None
    assert entry.reasons == ("relocated: agent S1 cordoned 900s",)
    assert [t.id for t in new.pending()] == ["t1"]


def test_a_killed_task_that_was_not_relocated_stays_ended(store: StateStore) -> None:
    queue = queue_of(store, [store.acquire("a", NOW, 30)])
    queue.submit(subs("t1"))
    queue.launching({"t1": "S1"})
    queue.update("t1", "TASK_RUNNING")
    queue.update("t1", "TASK_KILLED", "killed by an operator")
    assert queue.state("t1") == "killed"
