"""Everything stored comes back exactly; anything unreadable is named, never skipped."""

from __future__ import annotations

from datetime import timedelta

import pytest

from controlplane.aws.capacity import CapacityLedger, PendingRaise, ZoneBackoff
from controlplane.model import PoolHistory
from controlplane.state import (
    BadStateError,
    DynamoFrameworkIdStore,
    Lease,
    LeaseLostError,
    StateChanges,
    StateStore,
)
from controlplane.state import items as it
from controlplane.state.durations import DurationStats
from tests.state.conftest import NOW
from tests.state.test_lease import at, intent


def _lease(store: StateStore) -> Lease:
    lease = store.acquire("me", NOW, 600)
    assert lease is not None
    return lease


DURATIONS = DurationStats().learn([("etl", 120.0)], [("batch", 95.0)], 1.0)


def test_everything_round_trips(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    lease = _lease(store)
    history = {
        "batch": PoolHistory(last_scale_up=at(-30)),
        "web": PoolHistory(last_scale_down=at(-5)),
    }
    ledger = CapacityLedger(
        raises={"g1": PendingRaise(raised_at=at(-60), from_desired=1, to_desired=3)},
        backoffs={"g2": ZoneBackoff(until=at(300), failures=2, reason="no capacity")},
    )
    idle = {f"agent-{i:05d}": NOW - timedelta(microseconds=i * 7919) for i in range(20_000)}
    monkeypatch.setattr(it, "IDLE_CHUNK_BYTES", 20_000)  # several parts
    intents = [intent(f"a{i:04d}", lease.token) for i in range(400)]  # 5 transactions
    store.commit(
        lease,
        at(1),
        StateChanges(
            history=history,
            put_intents=intents,
            ledger=ledger,
            idle_since=idle,
            durations=DURATIONS,
        ),
    )
    store.save_framework_id(lease, at(1), "fw-123")
    assert len(store._query(it.IDLE)) > 2
    store.query_limit = 50  # the Query pages: 400 intents and the rest over 9+ pages
    queries = store.caller.metrics.count("Query")
    state = store.load()
    assert store.caller.metrics.count("Query") - queries >= 9
    assert state.history == history
    assert state.ledger == ledger
    assert state.idle_since == idle  # exact to the microsecond
    assert len(state.intents) == 400 and state.intents["a0007"] == intents[7]
    assert state.framework_id == "fw-123"
    assert state.durations == DURATIONS

    store.commit(lease, at(2), StateChanges(idle_since={"x": NOW}, delete_intents=["a0001"]))
    assert len(store._query(it.IDLE)) == 1  # surplus parts deleted
    state = store.load()
    assert state.idle_since == {"x": NOW}
    assert "a0001" not in state.intents and len(state.intents) == 399


@pytest.mark.parametrize(
    ("item", "named"),
    [
        ({"item": {"S": "ledger"}, "body": {"S": "{not json"}}, "item ledger"),
        ({"item": {"S": "surprise"}, "body": {"S": "{}"}}, "item surprise: unknown kind"),
        ({"item": {"S": "durations"}, "body": {"S": '{"jobs": {"j": {"count": 0}}}'}}, "durations"),
        ({"item": {"S": "history#batch"}}, "item history#batch: attribute body"),
        ({"item": {"S": "history#batch"}, "body": {"S": '{"x": 1}'}}, "history#batch"),
        ({"item": {"S": "idle#1"}, "data": {"B": b"x"}, "parts": {"N": "2"}}, "idle#*"),
        ({"item": {"S": "lease"}, "holder": {"S": "h"}}, "item lease"),
    ],
)
def test_unreadable_items_are_named(store: StateStore, item: dict[str, object], named: str) -> None:
    store.dynamodb.put_item(TableName=store.table, Item={"cluster": {"S": "c1"}, **item})  # type: ignore[attr-defined]
    with pytest.raises(BadStateError, match=named.replace("*", r"\*")):
        store.load()


def test_an_intent_under_another_agents_key_is_refused(store: StateStore) -> None:
    body = intent("b", 1).model_dump_json()
    store.dynamodb.put_item(  # type: ignore[attr-defined]
        TableName=store.table,
        Item={"cluster": {"S": "c1"}, "item": {"S": "intent#a"}, "body": {"S": body}},
    )
    with pytest.raises(BadStateError, match="intent#a: holds the intent of agent b"):
        store.load()


def test_clusters_do_not_see_each_other(store: StateStore) -> None:
    other = StateStore(store.caller, store.dynamodb, store.table, "c2")
    lease = _lease(store)
    store.commit(lease, at(1), StateChanges(put_intents=[intent("x", lease.token)]))
    assert other.load().intents == {}
    assert other.acquire("me", NOW, 60) is not None  # its own lease


def test_framework_id_store_writes_only_under_the_lease(store: StateStore) -> None:
    current: list[Lease | None] = [None]
    ids = DynamoFrameworkIdStore(store, lambda: current[0], lambda: at(1))
    assert ids.load() is None
    with pytest.raises(LeaseLostError):
        ids.save("fw-1")
    current[0] = _lease(store)
    ids.save("fw-1")
    assert ids.load() == "fw-1"
    ids.clear()
    assert ids.load() is None


def test_a_commit_knows_the_stored_parts_from_the_load_or_asks(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Surplus blob parts are deleted whether the store loaded the state (no Query) or
    not (a Query of the parts, as a store that never loaded needs)."""
    lease = _lease(store)
    monkeypatch.setattr(it, "IDLE_CHUNK_BYTES", 20_000)
    many = {f"agent-{i:05d}": NOW - timedelta(microseconds=i * 7919) for i in range(20_000)}
    store.commit(lease, at(1), StateChanges(idle_since=many))
    store.load()
    queries = store.caller.metrics.count("Query")
    store.commit(lease, at(2), StateChanges(idle_since={"x": NOW}))
    assert store.caller.metrics.count("Query") == queries  # the load said which parts exist
    assert len(store._query(it.IDLE)) == 1
    store.commit(lease, at(3), StateChanges(idle_since=many))
    other = StateStore(store.caller, store.dynamodb, store.table, store.cluster)  # no load
    queries = store.caller.metrics.count("Query")
    other.commit(lease, at(4), StateChanges(idle_since={"y": NOW}))
    assert store.caller.metrics.count("Query") == queries + 1  # it asked which parts exist
    assert len(store._query(it.IDLE)) == 1 and store.load().idle_since == {"y": NOW}
