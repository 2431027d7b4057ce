"""Duration-aware scale-up: a task that an agent about to empty will hold before a new
instance could boot waits for it; an overdue estimate or a slow agent buys an instance."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controlplane.model import Snapshot
from controlplane.planning import plan
from tests.support.builders import agent, ago, pool, run, task
from tests.support.contract_replay import PROPERTY, TOL, VARIED
from tests.support.strategies import snapshots

ZONES = ("us-east-1a",)


def _pool(**rules: Any) -> dict[str, Any]:
    return pool(zones=ZONES, desired=(1,), boot_s=120, **rules)


def _full(empty_in_s: float | None) -> dict[str, Any]:
    extra = {} if empty_in_s is None else {"expected_empty_at": ago(-empty_in_s)}
    return agent("A", used={"cpus": 16.0, "mem": 8000.0}, jobs={"j": 4}, idle_s=None, **extra)


def test_a_task_waits_for_an_agent_that_empties_before_a_new_instance_boots() -> None:
    result = run([_pool()], agents=[_full(40)], pending=[task("t", cpus=4)])
    assert result.scale_up == [] and result.placements == []
    (waiting,) = result.unplaced
    assert waiting.reason == "waits: fits on A in ~40s, a new m5.4xlarge boots in ~120s"
    assert any("1 task waits for agents about to empty" in h.reason for h in result.holds)


def test_only_what_the_emptying_agent_holds_waits() -> None:
    pending = [task(f"t{i}", cpus=6) for i in range(4)]  # two fit on 16 cpus once empty
    result = run([_pool()], agents=[_full(40)], pending=pending)
    assert sum(1 for u in result.unplaced if u.reason.startswith("waits:")) == 2
    assert sum(u.count for u in result.scale_up) == 1  # the other two: one new instance


def test_a_slow_or_overdue_or_unknown_agent_is_not_waited_for() -> None:
    for empty_in in (300, -10, None):
        result = run([_pool()], agents=[_full(empty_in)], pending=[task("t", cpus=4)])
        assert sum(u.count for u in result.scale_up) == 1, empty_in
    unknown_boot = run(
        [pool(zones=ZONES, desired=(1,))], agents=[_full(40)], pending=[task("t", cpus=4)]
    )
    assert sum(u.count for u in unknown_boot.scale_up) == 1


def _with_estimates(snapshot: Snapshot, offsets: list[float | None], boot: float) -> Snapshot:
    pools = [p.model_copy(update={"boot_s": boot}) for p in snapshot.pools]
    agents = [
        a.model_copy(
            update={
                "expected_empty_at": None if off is None else snapshot.now + timedelta(seconds=off)
            }
        )
        for a, off in zip(snapshot.agents, offsets * len(snapshot.agents), strict=False)
    ]
    return snapshot.model_copy(update={"pools": pools, "agents": agents})


ESTIMATED = st.builds(
    _with_estimates,
    st.one_of(VARIED, snapshots(busy=True), snapshots(busy=True, calm=True)),
    st.lists(st.one_of(st.floats(0, 50), st.none(), st.floats(-200, 400)), min_size=1, max_size=6),
    st.sampled_from([60.0, 120.0, 300.0]),
)


@PROPERTY
@given(ESTIMATED)
def test_tasks_wait_only_for_agents_that_empty_in_time_and_hold_them(snapshot: Snapshot) -> None:
    result = plan(snapshot)
    agents = {a.id: a for a in snapshot.agents}
    pools = {p.name: p for p in snapshot.pools}
    demand = {t.id: t.resources for t in snapshot.pending}
    held: dict[str, dict[str, float]] = {}
    for u in result.unplaced:
        if not u.reason.startswith("waits: fits on "):
            continue
        name = u.reason.removeprefix("waits: fits on ").split(" in ~")[0]
        a = agents[name]
        assert a.state == "active" and a.expected_empty_at is not None
        wait = (a.expected_empty_at - snapshot.now).total_seconds()
        boot = pools[a.pool].boot_s
        assert boot is not None and 0 <= wait < boot
        for r, v in demand[u.task].items():
            held.setdefault(name, {})[r] = held.get(name, {}).get(r, 0.0) + v
    for name, amounts in held.items():
        for r, v in amounts.items():
            assert v <= agents[name].total.get(r, 0.0) * (1 + TOL) + TOL
