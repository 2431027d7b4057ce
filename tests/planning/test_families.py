"""A pool holding groups of several instance types is one planner pool per type with a
shared `family`: a task naming the family may use any of them, the cheapest that fits
first, and constraints on `pool` see the family."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.support.builders import agent, pool, run, snapshot, task

SMALL = {"cpus": 2.0, "mem": 8000.0}
LARGE = {"cpus": 16.0, "mem": 64000.0}


def _family() -> list[dict[str, Any]]:
    return [
        pool("batch/m5.large", capacity=SMALL, hourly_price=0.096, family="batch"),
        pool("batch/m5.4xlarge", capacity=LARGE, hourly_price=0.768, family="batch"),
    ]


def test_a_task_naming_the_family_opens_the_cheapest_type_that_fits() -> None:
    result = run(
        _family(),
        pending=[task("small", cpus=1, pool="batch"), task("big", cpus=8, pool="batch")],
    )
    where = {p.task: p.new.pool for p in result.placements if p.new is not None}
    assert where == {"small": "batch/m5.large", "big": "batch/m5.4xlarge"}
    assert {u.pool for u in result.scale_up} == {"batch/m5.large", "batch/m5.4xlarge"}


def test_a_task_naming_one_type_stays_in_it() -> None:
    result = run(_family(), pending=[task("t", cpus=1, pool="batch/m5.4xlarge")])
    (placed,) = result.placements
    assert placed.new is not None and placed.new.pool == "batch/m5.4xlarge"


def test_constraints_on_pool_see_the_family_on_agents_and_new_instances() -> None:
    idle = agent(
        "a1", pool_name="batch/m5.4xlarge", asg="batch/m5.4xlarge-a", total=LARGE, idle_s=10
    )
    pinned = {"kind": "attribute", "name": "pool", "value": "batch"}
    result = run(
        _family(),
        agents=[idle],
        pending=[task(f"t{i}", cpus=6, constraints=[pinned]) for i in range(3)],
    )
    assert [p.task for p in result.placements] == ["t0", "t1", "t2"]
    assert sum(1 for p in result.placements if p.agent == "a1") == 2
    assert result.unplaced == []


def test_a_family_may_not_also_be_a_pool_name() -> None:
    with pytest.raises(ValidationError, match="'batch' is both a pool's name and a family"):
        snapshot([pool("batch"), pool("batch/x", family="batch")])


def test_a_task_naming_an_unknown_family_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown pool 'web'"):
        snapshot(_family(), pending=[task("t", pool="web")])
