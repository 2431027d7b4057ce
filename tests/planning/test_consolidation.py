"""Consolidation: under-used agents whose work fits elsewhere are cordoned to empty; cordoned
agents are given back before any new instance is bought for waiting work."""

from __future__ import annotations

from typing import Any

from controlplane.formats.plan_text import plan_json
from controlplane.planning import plan
from tests.support.builders import agent, ago, pool, run, snapshot, task

ZONES = ("us-east-1a",)


def _pool(**rules: Any) -> dict[str, Any]:
    return pool(zones=ZONES, desired=(3,), consolidate=True, **rules)


def _busy(ident: str, cpus: float, tasks: int = 1, **extra: Any) -> dict[str, Any]:
    return agent(
        ident, used={"cpus": cpus, "mem": 1000.0 * tasks}, jobs={"j": tasks}, idle_s=None, **extra
    )


def test_an_under_used_agent_whose_work_fits_elsewhere_is_cordoned() -> None:
    result = run([_pool()], agents=[_busy("A", 2), _busy("B", 9), _busy("C", 10)])
    assert [c.agent for c in result.cordon] == ["A"]
    assert "its 1 task fit on the pool's other agents" in result.cordon[0].reason
    assert result.scale_down == []  # a busy agent is never a scale-down


def test_work_with_nowhere_to_go_is_not_cordoned() -> None:
    # A's three 4-cpu tasks cannot fit in 7 + 6 free cpus as whole tasks (two at most).
    result = run([_pool()], agents=[_busy("A", 12, tasks=3), _busy("B", 9), _busy("C", 10)])
    assert result.cordon == []


def test_no_cordon_while_work_waits_for_room() -> None:
    result = run(
        [_pool()],
        agents=[_busy("A", 2), _busy("B", 9), _busy("C", 10)],
        pending=[task(f"t{i}", cpus=6) for i in range(6)],
    )
    assert result.cordon == []
    assert result.scale_up  # the pool grows: nothing is cordoned beside a shortfall


def test_a_cordoned_agent_is_given_back_before_a_new_instance() -> None:
    cordoned = _busy("A", 2, state="draining", cordoned=True)
    result = run(
        [_pool()], agents=[cordoned, _busy("B", 15), _busy("C", 15)], pending=[task("t", cpus=4)]
    )
    assert [u.agent for u in result.uncordon] == ["A"]
    assert [p.agent for p in result.placements] == ["A"]
    assert result.scale_up == [] and result.cordon == []


def test_a_pool_that_gave_agents_back_does_not_cordon_during_its_cooldown() -> None:
    history = {"batch": {"last_uncordon": ago(60)}}
    result = run([_pool()], agents=[_busy("A", 2), _busy("B", 9), _busy("C", 10)], history=history)
    assert result.cordon == []
    assert any("no consolidation: uncordon at" in h.reason for h in result.holds)
    later = {"batch": {"last_uncordon": ago(301)}}
    again = run([_pool()], agents=[_busy("A", 2), _busy("B", 9), _busy("C", 10)], history=later)
    assert [c.agent for c in again.cordon] == ["A"]


def test_do_not_disrupt_and_the_share_cap_are_kept() -> None:
    marked = _busy("A", 2, do_not_disrupt=True)
    result = run([_pool()], agents=[marked, _busy("B", 2), _busy("C", 3), _busy("D", 12)])
    assert [c.agent for c in result.cordon] == ["B"]  # 25% of 3 instances: one at a time


def test_a_pool_that_does_not_consolidate_plans_as_before() -> None:
    snap = snapshot([pool(zones=ZONES, desired=(3,))], agents=[_busy("A", 2), _busy("B", 9)])
    text = plan_json(plan(snap))
    assert "cordon" not in text


def test_drain_caps_and_floors_bound_cordons() -> None:
    agents = [_busy("A", 2), _busy("B", 9), _busy("C", 10)]
    assert run([_pool(max_drains_per_pass=0)], agents=agents).cordon == []
    floored = _pool(floor={"instances": 3, "source": "business hours"})
    assert run([floored], agents=agents).cordon == []  # emptying one would go below it
    assert [
        c.agent for c in run([_pool(floor={"instances": 2, "source": "s"})], agents=agents).cordon
    ] == ["A"]


def test_a_unique_host_task_is_cordoned_only_where_a_host_without_its_job_has_room() -> None:
    # A's one task is of job u, one per host; B and C both run u: nowhere for it to go.
    def _u(ident: str, cpus: float, **extra: Any) -> dict[str, Any]:
        return agent(
            ident,
            used={"cpus": cpus, "mem": 1000.0},
            jobs={"u": 1},
            idle_s=None,
            unique_host_jobs=["u"],
            **extra,
        )

    stuck = run([_pool()], agents=[_u("A", 2), _u("B", 9), _u("C", 10)])
    assert stuck.cordon == []
    # D (full of other work but with room) runs no u: now A's task has somewhere to go.
    room = run([_pool(max_cordon_share=1.0)], agents=[_u("A", 2), _u("B", 15), _busy("D", 9)])
    assert [c.agent for c in room.cordon] == ["A"]


def test_two_unique_host_tasks_of_one_job_never_count_the_same_host() -> None:
    def _u(ident: str) -> dict[str, Any]:
        used = {"cpus": 1.0, "mem": 1000.0}
        return agent(ident, used=used, jobs={"u": 1}, unique_host_jobs=["u"], idle_s=None)

    result = run([_pool(max_cordon_share=1.0)], agents=[_u("A"), _u("B"), _busy("D", 9)])
    assert [c.agent for c in result.cordon] == ["A"]  # D takes one of u's tasks, not two


def test_an_agent_running_an_exclusive_task_keeps_it_to_itself() -> None:
    solo = _busy("A", 2, exclusive=True)
    result = run([_pool()], agents=[solo, _busy("B", 9), _busy("C", 15)])
    assert result.cordon == []  # moving it could only take an empty agent
    wanted = run(
        [_pool()], agents=[solo, _busy("B", 15), _busy("C", 15)], pending=[task("t", cpus=2)]
    )
    assert [p.agent for p in wanted.placements] == [None]  # not beside the exclusive task
    assert wanted.scale_up
