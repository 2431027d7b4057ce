"""Lifetime-aware packing where tasks are really placed: the framework plans offers with
the loop's hints (learned job durations, agents' expected empty times)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controlplane.control.daemon import launch_hints
from controlplane.control.reconcile import PassResult
from controlplane.mesos.offers import LaunchHints, group_offers, offers_snapshot
from controlplane.model import Task
from controlplane.planning import plan
from controlplane.state.durations import DurationStats
from tests.support.builders import agent, ago, pool, snapshot
from tests.support.mesos_calls import scalar_offer

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _task(ident: str, job: str = "long", **extra: Any) -> Task:
    return Task.model_validate(
        {"id": ident, "job": job, "resources": {"cpus": 1.0, "mem": 100.0}, **extra}
    )


def _agent_of(hints: LaunchHints | None, task: Task) -> str | None:
    offered = group_offers([scalar_offer("A", 2.0), scalar_offer("B", 3.0)])
    result = plan(offers_snapshot(offered, [task], {}, NOW, hints))
    return result.placements[0].agent if result.placements else None


def test_a_long_task_goes_where_it_extends_no_agents_life() -> None:
    # Without hints: best fit (A, the fuller offer).
    assert _agent_of(None, _task("t")) == "A"
    # A empties in 10 min, B in 2 h; the job's tasks are learned to run an hour: B.
    hints = LaunchHints(
        {"long": 3600.0}, {"A": NOW + timedelta(minutes=10), "B": NOW + timedelta(hours=2)}
    )
    assert _agent_of(hints, _task("t")) == "B"
    # A task that declares its duration keeps it: a minute fits A's remaining life.
    assert _agent_of(hints, _task("t", expected_duration_s=60.0)) == "A"
    # An unknown job has no expectation: best fit again.
    assert _agent_of(hints, _task("t", job="other")) == "A"


def test_an_expected_empty_time_already_past_is_no_guide() -> None:
    offered = group_offers([scalar_offer("A", 2.0)])
    hints = LaunchHints({}, {"A": NOW - timedelta(seconds=1)})
    (agent,) = offers_snapshot(offered, [], {}, NOW, hints).agents
    assert agent.expected_empty_at is None


def test_launches_push_an_agents_expected_empty_time_out() -> None:
    hints = LaunchHints({"long": 3600.0}, {"A": NOW + timedelta(minutes=10)})
    after = hints.launched({"A": [_task("t")], "B": [_task("u", job="unknown")]}, NOW)
    assert after.empty_at["A"] == NOW + timedelta(hours=1)
    assert "B" not in after.empty_at  # nothing known of what runs there
    shorter = hints.launched({"A": [_task("t", expected_duration_s=5.0)]}, NOW)
    assert shorter.empty_at["A"] == NOW + timedelta(minutes=10)  # never pulled in


@given(
    st.dictionaries(st.sampled_from(["long", "short", "x"]), st.floats(1.0, 1e6), max_size=3),
    st.dictionaries(st.sampled_from(["A", "B"]), st.floats(-1e4, 1e5), max_size=2),
)
def test_hints_change_where_a_task_goes_never_whether_it_fits(
    durations: dict[str, float], ends: dict[str, float]
) -> None:
    hints = LaunchHints(durations, {a: NOW + timedelta(seconds=s) for a, s in ends.items()})
    tasks = [_task(f"t{i}", job=job) for i, job in enumerate(["long", "short", "x"] * 2)]
    offered = group_offers([scalar_offer("A", 2.0), scalar_offer("B", 3.0)])
    bare = plan(offers_snapshot(offered, tasks, {}, NOW))
    hinted = plan(offers_snapshot(offered, tasks, {}, NOW, hints))
    assert len(hinted.placements) == len(bare.placements) == 5  # 5 cpus offered


def test_a_pass_hands_the_framework_its_learned_durations_and_expected_ends() -> None:
    snap = snapshot(
        [pool(zones=("us-east-1a",), desired=(2,))],
        agents=[
            agent("A", jobs={"j": 1}, used={"cpus": 1.0}, expected_empty_at=ago(-600)),
            agent("B", jobs={"j": 1}, used={"cpus": 1.0}),
        ],
    )
    stats = DurationStats().learn([("j", 300.0), ("j", 500.0)], [], 0.0)
    reclaimed = frozenset({"i-0b00712345678abcd"})
    hints = launch_hints(PassResult("ok", snapshot=snap, durations=stats, reclaimed=reclaimed))
    assert dict(hints.durations) == {"j": 400.0}
    assert list(hints.empty_at) == ["A"]
    assert hints.reclaimed == reclaimed
    assert launch_hints(PassResult("failed")) == LaunchHints()


def test_offers_of_an_instance_aws_is_reclaiming_are_never_used() -> None:
    offer = scalar_offer("A", 2.0)
    offer["attributes"] = [
        {"name": "instance_id", "type": "TEXT", "text": {"value": "i-0b00712345678abcd"}}
    ]
    offered = group_offers([offer, scalar_offer("B", 3.0)])
    hints = LaunchHints(reclaimed=frozenset({"i-0b00712345678abcd"}))
    result = plan(offers_snapshot(offered, [_task("t")], {}, NOW, hints))
    assert [p.agent for p in result.placements] == ["B"]
    # Launches keep what the hints say of reclaimed instances.
    assert hints.launched({"B": [_task("t")]}, NOW).reclaimed == hints.reclaimed
