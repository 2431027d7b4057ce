"""Relocation decisions: a cordoned agent that restartable tasks keep from leaving gives
them up once its pool's deadline has passed, within the hourly budget, only when they fit
on the rest of the pool and no work waits; never a task that is not restartable."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controlplane.model import Snapshot
from controlplane.planning import plan
from controlplane.planning.relocate import CordonedAgent, RunningTask, relocations
from tests.support.builders import CAP, agent, ago, pool, snapshot, task

ZONES = ("us-east-1a",)
RULES = {"relocate_after_s": 600, "max_relocations_per_hour": 4}


def _agent_c() -> dict[str, Any]:
    """C: cordoned, running two tasks of job j (2 cpus, 2000 MiB in all)."""
    used = {"cpus": 2.0, "mem": 2000.0}
    return agent("C", used=used, jobs={"j": 2}, idle_s=None, state="draining", cordoned=True)


def _world(
    *,
    pending: list[dict[str, Any]] | None = None,
    history: dict[str, Any] | None = None,
    **rules: Any,
) -> Snapshot:
    """C is cordoned with 2 cpus of work; R has 10 of 16 cpus free."""
    return snapshot(
        [pool(zones=ZONES, desired=(2,), **{**RULES, **rules})],
        agents=[
            _agent_c(),
            agent("R", used={"cpus": 6.0, "mem": 6000.0}, jobs={"k": 3}, idle_s=None),
        ],
        pending=pending,
        history=history,
    )


def _cordoned(
    since_s: float = 900,
    restartable: tuple[bool, ...] = (True, True),
    cpus: float = 1.0,
    empty_in_s: float | None = None,
    ran_s: float | None = 100.0,
) -> CordonedAgent:
    """C's tasks: each `cpus` and 1000 MiB of its 16 cpus / 64000 MiB, run `ran_s`, each
    expected to end in `empty_in_s` (negative: overdue; None: no expectation)."""
    now = _world().now.timestamp()
    started = None if ran_s is None else now - ran_s
    end = None if empty_in_s is None else now + empty_in_s
    tasks = tuple(
        RunningTask(f"c{i}", {"cpus": cpus, "mem": 1000.0}, r, started, end)
        for i, r in enumerate(restartable)
    )
    return CordonedAgent("C", "batch", now - since_s, tasks, dict(CAP))


def _moves(snap: Snapshot, *cordoned: CordonedAgent) -> list[str]:
    return [m.task for m in relocations(snap, plan(snap), list(cordoned))]


def test_restartable_tasks_of_an_agent_cordoned_past_the_deadline_are_relocated() -> None:
    snap = _world()
    moves = relocations(snap, plan(snap), [_cordoned()])
    assert [m.task for m in moves] == ["c0", "c1"]
    assert moves[0].reason == (
        "agent C cordoned 900s (relocate after 600s); its 2 restartable tasks fit on the "
        "rest of pool batch; 2 of 4 relocations this hour"
    )


def test_nothing_moves_before_the_deadline_or_off_by_default() -> None:
    assert _moves(_world(), _cordoned(since_s=300)) == []
    assert _moves(_world(relocate_after_s=None), _cordoned()) == []
    assert _moves(_world(max_relocations_per_hour=0), _cordoned()) == []


def test_an_agent_with_a_task_that_is_not_restartable_keeps_all_of_them() -> None:
    assert _moves(_world(), _cordoned(restartable=(True, False))) == []


def test_only_when_it_saves_more_than_the_work_run_again() -> None:
    # Two tasks of 1/16 of the agent that ran 3000 s: 375 instance-seconds run again.
    assert _moves(_world(), _cordoned(empty_in_s=300, ran_s=3000)) == []  # waiting: 300
    assert _moves(_world(), _cordoned(empty_in_s=3000, ran_s=3000)) == ["c0", "c1"]
    # Unknown end: it counts as another relocate_after_s (600 s) of waiting.
    assert _moves(_world(), _cordoned(ran_s=3000)) == ["c0", "c1"]
    assert _moves(_world(), _cordoned(ran_s=10_000)) == []  # 1250 s run again > 600 s
    assert _moves(_world(), _cordoned(ran_s=None)) == []  # start unknown: never moved


def test_an_overdue_task_is_expected_to_run_as_long_again_as_it_has() -> None:
    # Expected to end 100 s ago and still running after 3000 s: 3000 s more are expected,
    # which beats the 375 instance-seconds run again (it was never moved before: an
    # expected end in the past read as "about to end").
    assert _moves(_world(), _cordoned(empty_in_s=-100, ran_s=3000)) == ["c0", "c1"]
    # The agent waits for its longest task: one overdue beside one about to end.
    now = _world().now.timestamp()
    tasks = (
        RunningTask("soon", {"cpus": 1.0}, True, now - 3000, now + 10),
        RunningTask("late", {"cpus": 1.0}, True, now - 3000, now - 100),
    )
    both = CordonedAgent("C", "batch", now - 900, tasks, dict(CAP))
    assert sorted(_moves(_world(), both)) == ["late", "soon"]


def test_tasks_that_do_not_fit_elsewhere_stay() -> None:
    assert _moves(_world(), _cordoned(cpus=6.0)) == []  # 12 cpus; R has 10 free


def test_work_waiting_for_another_pool_does_not_stop_relocation() -> None:
    gpu = pool("gpu", zones=ZONES, capacity={"cpus": 8.0, "mem": 60000.0, "gpus": 1.0})
    batch = pool(zones=ZONES, desired=(2,), relocate_after_s=600, max_relocations_per_hour=4)
    base = _world()
    agents = [a.model_dump(mode="json", exclude_none=True) for a in base.agents]
    train = task("train", cpus=1, gpus=1, pool="gpu")
    train["resources"]["gpus"] = 1.0
    del train["gpus"]
    snap = snapshot([batch, gpu], agents=agents, pending=[train])
    assert [u.pool for u in plan(snap).scale_up] == ["gpu"]
    assert _moves(snap, _cordoned()) == ["c0", "c1"]


def test_no_relocation_while_work_waits() -> None:
    waiting = _world(pending=[task("big", cpus=15)])  # fits only a new instance
    assert plan(waiting).scale_up
    assert _moves(waiting, _cordoned()) == []
    given_back = _world(pending=[task("mid", cpus=12)])  # fits C once given back
    assert [u.agent for u in plan(given_back).uncordon] == ["C"]
    assert _moves(given_back, _cordoned()) == []


def test_the_hourly_budget_counts_the_last_hour() -> None:
    three_recent = {"batch": {"relocations": [ago(60), ago(120), ago(3000)]}}
    assert _moves(_world(history=three_recent), _cordoned()) == []  # 3 + 2 > 4
    old = {"batch": {"relocations": [ago(3700), ago(4000), ago(5000)]}}
    assert _moves(_world(history=old), _cordoned()) == ["c0", "c1"]


@given(
    st.lists(
        st.tuples(
            st.floats(0, 3000),  # cordoned for
            st.lists(
                st.tuples(st.floats(0.1, 8), st.sampled_from([True, True, True, False])),
                min_size=1,
                max_size=4,
            ),
        ),
        min_size=1,
        max_size=5,
    ),
    st.one_of(st.integers(3, 8), st.integers(0, 8)),
    st.lists(st.floats(0, 7200), max_size=6),
    st.one_of(st.just(16.0), st.floats(0, 16)),
)
def test_relocations_keep_every_promise(
    agents: list[tuple[float, list[tuple[float, bool]]]],
    budget: int,
    past: list[float],
    free_cpus: float,
) -> None:
    """Budget per hour, deadline, restartable-only, and what moves fits where it may go."""
    snap = snapshot(
        [
            pool(
                zones=ZONES,
                desired=(len(agents) + 1,),
                relocate_after_s=600,
                max_relocations_per_hour=budget,
            )
        ],
        agents=[
            agent(
                f"C{i}",
                used={"cpus": min(16.0, sum(c for c, _ in ts))},
                jobs={"j": len(ts)},
                idle_s=None,
                state="draining",
                cordoned=True,
            )
            for i, (_, ts) in enumerate(agents)
        ]
        + [agent("R", used={"cpus": 16.0 - free_cpus}, jobs={"k": 1}, idle_s=None)],
        history={"batch": {"relocations": [ago(s) for s in past]}},
    )
    now = snap.now.timestamp()
    cordoned = [
        CordonedAgent(
            f"C{i}",
            "batch",
            now - since,
            tuple(
                RunningTask(f"C{i}-t{j}", {"cpus": c}, r, now - 60) for j, (c, r) in enumerate(ts)
            ),
            dict(CAP),
        )
        for i, (since, ts) in enumerate(agents)
    ]
    moves = relocations(snap, plan(snap), cordoned)
    recent = sum(1 for s in past if s < 3600)
    assert len(moves) <= max(0, budget - recent)
    by_id = {c.id: c for c in cordoned}
    moved_cpus = 0.0
    for agent_id in {m.agent for m in moves}:
        c = by_id[agent_id]
        assert now - c.since_s >= 600
        assert all(t.restartable for t in c.tasks)
        assert {m.task for m in moves if m.agent == agent_id} == {t.id for t in c.tasks}
        moved_cpus += sum(t.resources["cpus"] for t in c.tasks)
    assert moved_cpus <= free_cpus + 1e-6  # R is the only agent they may go to


def test_the_budget_goes_where_each_move_saves_the_most() -> None:
    """Two cordoned agents and room for one move: the one whose single task keeps it an
    hour longer goes first, not the one whose task ends in five minutes."""
    now = _world().now.timestamp()

    def one(name: str, ends_in_s: float) -> CordonedAgent:
        task = RunningTask(
            f"{name}-t", {"cpus": 1.0, "mem": 1000.0}, True, now - 600, now + ends_in_s
        )
        return CordonedAgent(name, "batch", now - 900, (task,), dict(CAP))

    snap = _world(max_relocations_per_hour=1)
    assert _moves(snap, one("A", 300), one("B", 3600)) == ["B-t"]
    assert _moves(snap, one("B", 3600), one("A", 300)) == ["B-t"]


def test_a_unique_host_task_is_not_moved_to_a_host_that_runs_its_job() -> None:
    snap = _world()  # R runs job k
    now = snap.now.timestamp()
    tasks = (RunningTask("c0", {"cpus": 1.0}, True, now - 100, None, job="k", unique_host=True),)
    stuck = CordonedAgent("C", "batch", now - 900, tasks, {"cpus": 16.0, "mem": 64000.0})
    assert relocations(snap, plan(snap), [stuck]) == []
    free = (RunningTask("c0", {"cpus": 1.0}, True, now - 100, None, job="j", unique_host=True),)
    moved = CordonedAgent("C", "batch", now - 900, free, {"cpus": 16.0, "mem": 64000.0})
    assert [r.task for r in relocations(snap, plan(snap), [moved])] == ["c0"]


def test_an_exclusive_task_is_never_relocated() -> None:
    snap = _world()
    now = snap.now.timestamp()
    tasks = (RunningTask("c0", {"cpus": 1.0}, True, now - 100, None, exclusive=True),)
    solo = CordonedAgent("C", "batch", now - 900, tasks, {"cpus": 16.0, "mem": 64000.0})
    assert relocations(snap, plan(snap), [solo]) == []


def test_an_agent_this_plan_gives_to_an_exclusive_task_takes_no_relocated_work() -> None:
    def world(constraints: list[dict[str, Any]]) -> Snapshot:
        return snapshot(
            [pool(zones=ZONES, desired=(2,), relocate_after_s=600, max_relocations_per_hour=4)],
            agents=[_agent_c(), agent("E")],  # E: empty, the only room
            pending=[task("x", cpus=1, constraints=constraints)],
        )

    alone = world([{"kind": "exclusive"}])
    assert [p.agent for p in plan(alone).placements] == ["E"]
    assert _moves(alone, _cordoned()) == []  # E is the exclusive task's alone
    shared = world([])
    assert [p.agent for p in plan(shared).placements] == ["E"]
    assert _moves(shared, _cordoned()) == ["c0", "c1"]
