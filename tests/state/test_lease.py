"""The leader lease: one holder at a time, a token that grows on every change of holder."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.state import DrainIntent, Lease, LeaseLostError, StateChanges, StateStore
from tests.state.conftest import NOW, make_store


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def intent(agent: str, token: int) -> DrainIntent:
    return DrainIntent(
        agent_id=agent,
        instance_id=f"i-{agent}",
        asg="g",
        pool="p",
        zone="z",
        reason="idle",
        phase="deactivating",
        created_at=NOW,
        updated_at=NOW,
        token=token,
    )


def test_acquire_renew_takeover_release(store: StateStore) -> None:
    a = store.acquire("a", at(0), 30)
    assert a is not None and a.token == 1
    assert store.acquire("b", at(10), 30) is None  # a holds it
    a2 = store.renew(a, at(20), 30)
    assert a2.token == 1 and a2.expires_at == at(50)
    assert store.acquire("b", at(45), 30) is None
    b = store.acquire("b", at(51), 30)  # expired: taken over, token grows
    assert b is not None and b.token == 2
    with pytest.raises(LeaseLostError):
        store.renew(a2, at(49), 30)
    store.release(a2)  # not ours any more: nothing happens
    assert store.leader() == b
    store.release(b)
    c = store.acquire("a", at(52), 30)  # released: free at once
    assert c is not None and c.token == 3


def test_renewing_the_lease_one_holds_is_one_conditional_write(store: StateStore) -> None:
    a = store.acquire("a", at(0), 30)
    assert a is not None
    metrics = store.caller.metrics
    assert metrics is not None
    reads, writes = metrics.count("GetItem"), metrics.count("PutItem")
    a2 = store.acquire("a", at(10), 30, known=a)
    assert a2 == Lease("a", 1, at(40))
    assert metrics.count("GetItem") == reads and metrics.count("PutItem") == writes + 1
    assert store.leader() == a2
    late = store.acquire("a", at(45), 30, known=a2)  # expired, but nobody took it
    assert late == Lease("a", 1, at(75))


def test_a_lease_known_but_no_longer_stored_is_read_and_decided_afresh(
    store: StateStore,
) -> None:
    a = store.acquire("a", at(0), 30)
    assert a is not None
    b = store.acquire("b", at(31), 30)  # expired: b takes over
    assert b is not None and b.token == 2
    assert store.acquire("a", at(40), 30, known=a) is None  # b holds it: a does not renew
    assert store.leader() == b
    stale = Lease("a", 1, at(29))  # what a believes, wrong in its expiry: read, then decided
    a3 = store.acquire("a", at(62), 30, known=stale)
    assert a3 is not None and a3.token == 3 and store.leader() == a3
    with pytest.raises(LeaseLostError):
        store.renew(a, at(20), 30)  # a's old lease: the stored one is a3's, token 3


def test_fenced_commit_lands_only_under_the_current_lease(store: StateStore) -> None:
    a = store.acquire("a", at(0), 30)
    assert a is not None
    store.commit(a, at(1), StateChanges(put_intents=[intent("x", a.token)]))
    assert set(store.load().intents) == {"x"}
    with pytest.raises(LeaseLostError):  # own lease expired
        store.commit(a, at(31), StateChanges(delete_intents=["x"]))
    b = store.acquire("b", at(31), 30)
    assert b is not None
    with pytest.raises(LeaseLostError):  # a former holder
        store.commit(a, at(10), StateChanges(delete_intents=["x"]))
    assert set(store.load().intents) == {"x"}
    many = [intent(f"n{i}", b.token) for i in range(250)]  # three transactions
    store.commit(b, at(32), StateChanges(put_intents=many))
    assert len(store.load().intents) == 251


@settings(max_examples=12, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["h1", "h2", "h3"]),
            st.sampled_from(["acquire", "renew", "release", "commit"]),
            st.floats(0, 20),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_at_most_one_valid_lease_and_commits_only_by_the_current_token(
    moto_url: str, steps: list[tuple[str, str, float]]
) -> None:
    store = make_store(moto_url, cluster=f"prop-{id(steps)}")
    store.create_table()
    held: dict[str, Lease] = {}
    clock = 0.0
    last_token, last_holder = 0, None
    for holder, op, advance in steps:
        clock += advance
        now = at(clock)
        lease = held.get(holder)
        if op == "acquire":
            got = store.acquire(holder, now, 15)
            if got is not None:
                held[holder] = got
                assert got.token >= last_token
                if last_holder not in (None, holder):
                    assert got.token > last_token
                last_token, last_holder = got.token, holder
        elif op == "renew" and lease is not None:
            try:
                held[holder] = store.renew(lease, now, 15)
            except LeaseLostError:
                held.pop(holder)
        elif op == "release" and lease is not None:
            store.release(lease)
            held.pop(holder)
        elif op == "commit" and lease is not None:
            before = store.load().intents
            current = store.leader()
            try:
                store.commit(lease, now, StateChanges(put_intents=[intent(holder, 0)]))
                assert current == lease and lease.valid(now)
            except LeaseLostError:
                assert store.load().intents == before
        valid = [h for h, le in held.items() if le.valid(now)]
        stored = store.leader()
        assert all(held[h] == stored for h in valid)
        assert len(valid) <= 1
