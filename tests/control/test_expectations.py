"""Expected durations into the snapshot: declared or learned per job, agents' expected empty
times, pools' measured boot times; and what the loop learns (bounded, running means)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from controlplane.aws.replies import ObservedGroup, ObservedInstance
from controlplane.control.expectations import (
    boot_samples,
    expected_ends,
    with_boot_times,
    with_expectations,
)
from controlplane.mesos.replies import AgentView, TaskView
from controlplane.model import Pool, Task
from controlplane.state.durations import MAX_JOBS, WINDOW, DurationStats
from controlplane.state.records import InstanceMemory

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STATS = DurationStats().learn([("etl", 100.0), ("etl", 200.0)], [("batch", 90.0)], 0.0)


def _task(tid: str, job: str | None = "etl", **extra: object) -> Task:
    return Task.model_validate({"id": tid, "job": job, "resources": {"cpus": 1}, **extra})


def _view(*tasks: TaskView) -> AgentView:
    return AgentView("a1", "h", {}, {"cpus": 4}, {}, {}, True, None, tasks)


def _live(started: float | None, **labels: str) -> TaskView:
    return TaskView("t", "t", "fw", "a1", "TASK_RUNNING", {"cpus": 1}, labels, started)


def test_declared_wins_then_learned_per_job_then_unknown() -> None:
    declared, learned, unknown = with_expectations(
        [_task("d", expected_duration_s=30), _task("l"), _task("u", job="new")], STATS
    )
    assert (declared.expected_duration_s, declared.duration_source) == (30, "declared")
    assert learned.expected_duration_s == 150.0
    assert learned.duration_source == "learned from 2 tasks of job etl"
    assert unknown.expected_duration_s is None and unknown.duration_source is None
    (claimed,) = with_expectations(
        [_task("c", job="new", duration_source="learned, trust me")], STATS
    )
    assert claimed.duration_source is None  # only the loop says where a duration came from


def _empty(views: list[AgentView]) -> dict[str, datetime | None]:
    return {a: e.empty_at for a, e in expected_ends(views, STATS, NOW.timestamp(), None).items()}


def test_an_agent_is_expected_empty_when_all_its_tasks_are_known() -> None:
    t0 = NOW.timestamp()
    known = _view(_live(t0, job="etl"), _live(t0 + 10, expected_duration_s="500"))
    assert _empty([known]) == {"a1": datetime.fromtimestamp(t0 + 510, UTC)}
    for unknown in (
        _live(None, job="etl"),
        _live(t0, job="new"),
        _live(t0, expected_duration_s="x"),
    ):
        assert _empty([_view(_live(t0, job="etl"), unknown)]) == {}
    assert _empty([_view()]) == {}  # idle: nothing to wait for


ETL = {"job": "etl"}


def test_tasks_ending_within_the_boot_horizon_are_listed_as_releases() -> None:
    t0 = NOW.timestamp()
    view = AgentView(
        "a1",
        "h",
        {},
        {"cpus": 4},
        {"cpus": 2.5},
        {},
        True,
        None,
        (
            _live(t0 - 100, job="etl"),  # ends at t0 + 50: within 120 s
            _live(t0 - 100, expected_duration_s="900"),  # ends at t0 + 800: beyond
            _live(t0 - 300, job="etl"),  # overdue: not waited for again
            _live(None, job="etl"),  # never started: unknown, so never empty
            # ends at t0 + 100, but claims more than the agent uses: clamped to what is left
            TaskView(
                "big", "big", "fw", "a1", "TASK_RUNNING", {"cpus": 9}, {"job": "etl"}, t0 - 50
            ),
        ),
    )
    ends = expected_ends([view], STATS, t0, 120.0)["a1"]
    assert ends.empty_at is None
    assert [(r.at.timestamp() - t0, r.resources) for r in ends.releases] == [
        (50.0, {"cpus": 1}),
        (100.0, {"cpus": 1.5}),  # never more than the agent uses (the snapshot's own rule)
    ]
    assert "a1" not in expected_ends([view], STATS, t0, None)  # no boot time known: none


def test_boot_times_are_measured_from_first_sighting_to_registration() -> None:
    inst = ObservedInstance("i-1", "z", "InService", False, True)
    group = ObservedGroup("g", "batch", "z", 0, 5, 1, {}, None, ("m5.large",), (inst,))
    before = InstanceMemory(unregistered={"i-1": NOW - timedelta(seconds=130)})
    assert boot_samples(before, {"g": group}, {"i-1"}, NOW) == [("batch", 130.0)]
    assert boot_samples(before, {"g": group}, set(), NOW) == []
    pool = Pool.model_validate(
        {"name": "batch", "instance_type": "m5.large", "capacity": {"cpus": 2}, "groups": []}
    )
    assert with_boot_times([pool], STATS)[0].boot_s == 90.0


@given(st.lists(st.floats(1, 1e5), min_size=1, max_size=200))
def test_a_learned_mean_stays_within_what_was_seen(samples: list[float]) -> None:
    stats = DurationStats().learn([("j", s) for s in samples], [], 1.0)
    mean = stats.jobs["j"]
    assert mean.count == len(samples)
    assert min(samples) - 1e-6 <= mean.mean_s <= max(samples) + 1e-6
    # Past the window, a shift in the job's durations shows within a window of samples.
    shifted = stats.learn([("j", 2e5)] * (3 * WINDOW), [], 2.0).jobs["j"]
    assert shifted.mean_s > 1.9e5


def test_jobs_are_bounded_and_bad_samples_ignored() -> None:
    many = [(f"j{i}", 10.0) for i in range(MAX_JOBS + 5)]
    stats = DurationStats().learn(many, [("p", -3.0), ("p", float("inf"))], 1.0)
    assert len(stats.jobs) == MAX_JOBS and stats.boot == {}
    assert stats.learn([], [], 2.0) is stats  # nothing new: the same record, no write
