"""Duration-aware scale-up: a task that room freeing on an agent (its running tasks ending,
or all of them) will hold before a new instance could boot waits for it; an overdue
estimate or a slow agent buys an instance."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controlplane.model import Release, Snapshot
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
    assert any("1 task waits for room freeing on agents" in h.reason for h in result.holds)


def _releasing(*releases: tuple[float, float]) -> dict[str, Any]:
    """Agent A, full, whose tasks end in so many seconds giving back so many cpus."""
    listed = [
        Release.model_validate({"at": ago(-s), "resources": {"cpus": c}}) for s, c in releases
    ]
    return agent(
        "A",
        used={"cpus": 16.0, "mem": 8000.0},
        jobs={"j": 4},
        idle_s=None,
        expected_releases=listed,
    )


def test_a_task_waits_for_room_its_agents_tasks_give_back_before_a_boot() -> None:
    # 4 cpus free in 30 s, 4 more in 90 s, 8 more in 600 s (after a boot: not counted).
    a = _releasing((30, 4), (90, 4), (600, 8))
    pending = [task(f"t{i}", cpus=3) for i in range(4)]
    result = run([_pool()], agents=[a], pending=pending)
    waits = sorted(u.reason for u in result.unplaced if u.reason.startswith("waits:"))
    assert waits == [  # one in the 4 cpus of 30 s, one in the 1 left and the 4 of 90 s
        "waits: fits on A in ~30s, a new m5.4xlarge boots in ~120s",
        "waits: fits on A in ~90s, a new m5.4xlarge boots in ~120s",
    ]
    assert sum(u.count for u in result.scale_up) == 1  # the other two


def test_a_pool_may_let_tasks_wait_past_a_boot_for_room_that_frees() -> None:
    # 8 cpus free in 200 s: after a 120 s boot, so a new instance by default ...
    a = _releasing((200, 8))
    pending = [task("t", cpus=4)]
    assert sum(u.count for u in run([_pool()], agents=[a], pending=pending).scale_up) == 1
    # ... but within a boot plus queue_for_room_s = 120 s: the task waits, and says so.
    result = run([_pool(queue_for_room_s=120)], agents=[a], pending=pending)
    assert result.scale_up == []
    assert [u.reason for u in result.unplaced] == [
        "waits: fits on A in ~200s, a new m5.4xlarge boots in ~120s "
        "(the pool waits up to 120s longer)"
    ]
    # Room further off than both is not waited for.
    later = run([_pool(queue_for_room_s=60)], agents=[a], pending=pending)
    assert sum(u.count for u in later.scale_up) == 1


def test_room_taken_at_a_point_is_not_offered_again_at_a_later_one() -> None:
    # 6 cpus in 30 s; a 6-cpu task takes them; 2 more in 60 s do not hold a 4-cpu task.
    a = _releasing((30, 6), (60, 2))
    result = run([_pool()], agents=[a], pending=[task("big", cpus=6), task("t", cpus=4)])
    assert [u.task for u in result.unplaced if u.reason.startswith("waits:")] == ["big"]
    assert sum(u.count for u in result.scale_up) == 1


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


OFFSET = st.one_of(st.floats(0, 50), st.none(), st.floats(-200, 400))


def _with_estimates(
    snapshot: Snapshot,
    offsets: list[float | None],
    splits: list[list[tuple[float, float]]],
    boot: float,
) -> Snapshot:
    """Each agent expected empty at an offset (or not known), and its used room given back
    in parts (share of what is left, offset) as its tasks end."""
    pools = [p.model_copy(update={"boot_s": boot}) for p in snapshot.pools]
    agents = []
    for i, a in enumerate(snapshot.agents):
        off = offsets[i % len(offsets)]
        left, releases = dict(a.used), []
        for share, at in splits[i % len(splits)]:
            given = {r: v * share for r, v in left.items() if v * share > 0}
            if given:
                left = {r: v - given.get(r, 0.0) for r, v in left.items()}
                releases.append(Release(at=snapshot.now + timedelta(seconds=at), resources=given))
        update = {
            "expected_empty_at": None if off is None else snapshot.now + timedelta(seconds=off),
            "expected_releases": sorted(releases, key=lambda r: r.at),
        }
        agents.append(a.model_copy(update=update))
    return snapshot.model_copy(update={"pools": pools, "agents": agents})


ESTIMATED = st.builds(
    _with_estimates,
    st.one_of(VARIED, snapshots(busy=True), snapshots(busy=True, calm=True)),
    st.lists(OFFSET, min_size=1, max_size=6),
    st.lists(
        st.lists(st.tuples(st.floats(0, 1), st.floats(-100, 300)), max_size=4),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from([60.0, 120.0, 300.0]),
)


def _still_running(agent: Any, until: float, now: Any, boot: float) -> dict[str, float]:
    """What the agent runs at `until` seconds from now, counting only releases the
    planner may count (due in [0, boot))."""
    running = dict(agent.used)
    for release in agent.expected_releases:
        at = (release.at - now).total_seconds()
        if 0 <= at <= until and at < boot:
            for r, v in release.resources.items():
                running[r] = running.get(r, 0.0) - v
    if agent.expected_empty_at is not None:
        at = (agent.expected_empty_at - now).total_seconds()
        if 0 <= at <= until and at < boot:
            running = {}
    return running


@PROPERTY
@given(ESTIMATED)
def test_tasks_wait_only_for_room_that_frees_in_time_and_it_holds_them(
    snapshot: Snapshot,
) -> None:
    """A task waits only on an agent with room freeing within its pool's boot time, and
    what waits there, with what the plan places there now, fits beside what still runs
    once the last release it may count has come."""
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
        boot = pools[a.pool].boot_s
        assert a.state == "active" and boot is not None
        times = [(r.at - snapshot.now).total_seconds() for r in a.expected_releases]
        if a.expected_empty_at is not None:
            times.append((a.expected_empty_at - snapshot.now).total_seconds())
        assert any(0 <= w < boot for w in times)
        for r, v in demand[u.task].items():
            held.setdefault(name, {})[r] = held.get(name, {}).get(r, 0.0) + v
    placed: dict[str, dict[str, float]] = {}
    for p in result.placements:
        if p.agent is None:
            continue  # a new instance
        for r, v in demand[p.task].items():
            placed.setdefault(p.agent, {})[r] = placed.get(p.agent, {}).get(r, 0.0) + v
    for name, amounts in held.items():
        a = agents[name]
        boot = pools[a.pool].boot_s or 0.0
        running = _still_running(a, boot, snapshot.now, boot)
        for r, v in amounts.items():
            total = v + placed.get(name, {}).get(r, 0.0) + max(running.get(r, 0.0), 0.0)
            assert total <= a.total.get(r, 0.0) * (1 + TOL) + TOL, (name, r)


def test_an_overdue_release_gives_no_room_at_a_later_one() -> None:
    """Found by the property above: a release due 10 s ago was still counted as room at the
    next one, so a task waited for room that only the overdue task's end would give."""
    a = _releasing((-10, 4), (30, 4))  # the first is overdue: its task still runs
    result = run([_pool()], agents=[a], pending=[task("t", cpus=6)])
    assert all(not u.reason.startswith("waits:") for u in result.unplaced)
    assert sum(s.count for s in result.scale_up) == 1  # 4 cpus free in 30 s hold no 6
    result = run([_pool()], agents=[a], pending=[task("t", cpus=4)])
    (waiting,) = result.unplaced
    assert waiting.reason == "waits: fits on A in ~30s, a new m5.4xlarge boots in ~120s"
