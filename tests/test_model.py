"""Input validation: bad snapshots are refused with an error that names the problem."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from controlplane.errors import describe
from controlplane.model import Snapshot
from tests.support.builders import NOW, agent, pool, task


def _doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": 1,
        "now": NOW,
        "pools": [pool(desired=(1, 0, 0))],
        "agents": [agent("A-1")],
        "pending": [task("t-1")],
        "history": {"batch": {"last_scale_up": None, "last_scale_down": None}},
    }
    doc.update(overrides)
    return doc


def _error(doc: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        Snapshot.model_validate_json(json.dumps(doc))
    return describe(info.value)


def test_valid_snapshot_parses_and_normalises_times_to_utc() -> None:
    doc = _doc(now="2026-11-23T13:00:00+01:00")
    snap = Snapshot.model_validate_json(json.dumps(doc))
    assert snap.now.isoformat() == "2026-11-23T12:00:00+00:00"
    assert snap.agents[0].running == 0


def test_unknown_field_is_named() -> None:
    doc = _doc()
    doc["pools"][0]["capcity"] = {"cpus": 1}
    assert _error(doc) == "pools[0].capcity: unknown field"


def test_unknown_top_level_field_is_named() -> None:
    assert _error(_doc(agnets=[])) == "agnets: unknown field"


def test_missing_required_field_is_named() -> None:
    doc = _doc()
    del doc["agents"][0]["total"]
    assert _error(doc) == "agents[0].total: missing required field"
    assert _error({k: v for k, v in _doc().items() if k != "now"}) == "now: missing required field"


def test_negative_resource_is_refused() -> None:
    doc = _doc()
    doc["pending"][0]["resources"]["cpus"] = -1
    msg = _error(doc)
    assert msg.startswith("pending[0].resources")
    assert "'cpus' must be >= 0" in msg


def test_non_finite_resource_is_refused() -> None:
    doc = _doc()
    doc["pending"][0]["resources"]["mem"] = float("inf")
    text = json.dumps(doc)
    assert "Infinity" in text
    with pytest.raises(ValidationError) as info:
        Snapshot.model_validate_json(text)
    assert describe(info.value).startswith("invalid JSON") or "finite" in describe(info.value)


def test_agent_in_unknown_pool_is_refused() -> None:
    doc = _doc()
    doc["agents"][0]["pool"] = "gpu"
    assert "agents[0] (A-1): unknown pool 'gpu'" in _error(doc)


def test_agent_in_group_of_another_zone_is_refused() -> None:
    doc = _doc()
    doc["agents"][0]["zone"] = "us-east-1b"
    assert "differs from its group batch-a's zone" in _error(doc)


def test_agent_in_unknown_group_is_refused() -> None:
    doc = _doc()
    doc["agents"][0]["asg"] = "nope"
    assert "asg 'nope' is not a group of pool 'batch'" in _error(doc)


def test_used_above_total_is_refused() -> None:
    doc = _doc()
    doc["agents"][0]["used"] = {"cpus": 17}
    assert "used cpus 17 exceeds total 16" in _error(doc)


def test_releases_above_what_the_agent_uses_are_refused() -> None:
    doc = _doc()
    doc["agents"][0]["used"] = {"cpus": 2}
    doc["agents"][0]["expected_releases"] = [
        {"at": "2026-11-23T12:01:00Z", "resources": {"cpus": 1.5}},
        {"at": "2026-11-23T12:02:00Z", "resources": {"cpus": 1}},
    ]
    assert "expected_releases give back cpus 2.5, more than the 2 it uses" in _error(doc)


def test_unique_host_jobs_must_be_jobs_the_agent_runs() -> None:
    doc = _doc()
    doc["agents"][0]["jobs"] = {"web": 1}
    doc["agents"][0]["unique_host_jobs"] = ["web", "db"]
    assert "unique_host_jobs names 'db', not in jobs" in _error(doc)


def test_duplicate_ids_are_refused() -> None:
    assert "pending: duplicate id 't-1'" in _error(_doc(pending=[task("t-1"), task("t-1")]))
    assert "agents: duplicate id 'A-1'" in _error(_doc(agents=[agent("A-1"), agent("A-1")]))


def test_group_bounds_and_idle_bounds_are_checked() -> None:
    doc = _doc()
    doc["pools"][0]["groups"][0]["min"] = 9
    doc["pools"][0]["groups"][0]["max"] = 3
    assert "min 9 exceeds max 3" in _error(doc)
    doc = _doc()
    doc["pools"][0]["min_idle"] = 5
    doc["pools"][0]["max_idle"] = 1
    assert "min_idle 5 exceeds max_idle 1" in _error(doc)


def test_two_groups_in_one_zone_are_refused() -> None:
    doc = _doc()
    doc["pools"][0]["groups"][1]["zone"] = "us-east-1a"
    assert "more than one group in zone us-east-1a" in _error(doc)


def test_unknown_constraint_kind_is_refused() -> None:
    doc = _doc()
    doc["pending"][0]["constraints"] = [{"kind": "near", "name": "rack"}]
    assert _error(doc).startswith("pending[0].constraints[0]")


def test_naive_time_is_refused() -> None:
    assert "must carry a UTC offset" in _error(_doc(now="2026-11-23T12:00:00"))


def test_wrong_version_is_refused() -> None:
    assert _error(_doc(version=2)).startswith("version:")


def test_task_for_unknown_pool_and_history_of_unknown_pool_are_refused() -> None:
    doc = _doc()
    doc["pending"][0]["pool"] = "gpu"
    assert "unknown pool 'gpu'" in _error(doc)
    assert "history: unknown pool 'gpu'" in _error(_doc(history={"gpu": {}}))


def test_tasks_below_sum_of_jobs_is_refused() -> None:
    doc = _doc()
    doc["agents"][0]["jobs"] = {"a": 2}
    doc["agents"][0]["tasks"] = 1
    assert "tasks 1 is less than the sum of jobs" in _error(doc)


def test_bad_json_is_reported() -> None:
    with pytest.raises(ValidationError) as info:
        Snapshot.model_validate_json("{not json")
    assert describe(info.value).startswith("invalid JSON")


@pytest.mark.parametrize(
    ("edit", "where", "what"),
    [
        (lambda d: d["pools"][0]["capacity"].update(cpus=True), "pools[0].capacity.cpus", "number"),
        (lambda d: d["pools"][0]["groups"][0].update(max="5"), "pools[0].groups[0].max", "integer"),
        (lambda d: d["pools"][0]["groups"][0].update(desired=2.0), "groups[0].desired", "integer"),
        (lambda d: d["pending"][0]["resources"].update(cpus="1"), "resources.cpus", "number"),
        (
            lambda d: d["pending"][0].update(constraints=[{"kind": "exclusive", "soft": "no"}]),
            "pending[0].constraints[0].exclusive.soft",
            "boolean",
        ),
        (lambda d: d.update(now=1700000000), "now", "RFC 3339 string"),
        (lambda d: d.update(now="1764000000"), "now", "RFC 3339 string"),
        (lambda d: d.update(version=True), "version", "the integer 1"),
        (lambda d: d.update(version=1.0), "version", "the integer 1"),
        (lambda d: d["agents"][0].update(attributes={"ssd": True}), "attributes.ssd", "string or"),
    ],
)
def test_values_of_the_wrong_type_are_not_coerced(edit: Any, where: str, what: str) -> None:
    """`true` is not 1 and `"5"` is not 5: a snapshot that drives instances is not guessed at."""
    doc = _doc()
    edit(doc)
    msg = _error(doc)
    assert where in msg.split(":")[0] and what in msg, msg


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d["pools"][0].update(scale_up_cooldown_s=1e12), "scale_up_cooldown_s"),
        (lambda d: d["pools"][0].update(scale_down_cooldown_s=1e300), "scale_down_cooldown_s"),
        (lambda d: d["pools"][0].update(idle_grace_s=4e8), "idle_grace_s"),
        (lambda d: d["pools"][0]["groups"][0].update(max=10**9, desired=10**9), "groups[0].max"),
        (lambda d: d["pools"][0].update(min_idle=10**9, max_idle=10**9), "min_idle"),
        (lambda d: d.update(now="9999-12-31T23:59:59Z"), "now"),
        (lambda d: d["agents"][0].update(idle_since="0001-01-01T00:00:00Z"), "idle_since"),
        (lambda d: d["agents"][0].update(hostname="(new host)"), "agents[0]"),
        (lambda d: d["agents"][0].update(tasks=10**23, jobs={"j": 10**23}), "agents[0].tasks"),
        (lambda d: d["pools"][0]["capacity"].update(cpus=1e308), "pools[0].capacity"),
    ],
)
def test_values_no_cluster_reaches_are_refused(edit: Any, where: str) -> None:
    """Beyond these bounds a value is garbage, and accepting it would overflow time
    arithmetic or ask the planner for a billion instances."""
    doc = _doc()
    edit(doc)
    assert where in _error(doc).split(":")[0]


def test_attribute_numbers_compare_as_text() -> None:
    doc = _doc()
    doc["agents"][0]["attributes"] = {"gen": 3.0, "rack": 7, "name": "x"}
    snap = Snapshot.model_validate_json(json.dumps(doc))
    assert snap.agents[0].attributes == {"gen": "3", "rack": "7", "name": "x"}
