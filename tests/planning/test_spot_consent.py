"""Spot consent: a pool with `spot_by_default` false keeps its Spot agents and instances
for tasks that ask for `lifecycle`; others use its on-demand agents, or another pool. By
default (true) nothing changes, byte for byte."""

from __future__ import annotations

from typing import Any

from hypothesis import given

from controlplane.formats.plan_text import plan_json
from controlplane.model import Snapshot
from controlplane.planning import plan
from tests.support.builders import agent, pool, run, targets, task
from tests.support.contract_replay import PROPERTY, VARIED

ZONES = ("us-east-1a",)


def _spot_pool(**rules: Any) -> dict[str, Any]:
    return pool("spot", zones=ZONES, desired=(2,), attributes={"lifecycle": "spot"}, **rules)


def _agents() -> list[dict[str, Any]]:
    return [
        agent(
            "S",
            pool_name="spot",
            idle_s=None,
            used={"cpus": 1.0},
            jobs={"j": 1},
            attributes={"lifecycle": "spot"},
        ),
        agent(
            "D",
            pool_name="spot",
            idle_s=None,
            used={"cpus": 8.0},
            jobs={"j": 1},
            attributes={"lifecycle": "on-demand"},
        ),
    ]


def test_a_task_without_a_preference_stays_off_kept_spot() -> None:
    result = run([_spot_pool(spot_by_default=False)], _agents(), [task("t", cpus=4)])
    assert targets(result) == {"t": "D"}  # the on-demand agent, though S is emptier
    big = run([_spot_pool(spot_by_default=False)], _agents(), [task("t", cpus=12)])
    assert big.scale_up == [] and big.placements == []  # no Spot instance opened for it
    (why,) = big.unplaced
    assert why.task == "t"


def test_a_task_that_asks_for_spot_uses_it() -> None:
    spot = [{"kind": "attribute", "name": "lifecycle", "value": "spot"}]
    result = run([_spot_pool(spot_by_default=False)], _agents(), [task("t", 12, constraints=spot)])
    assert targets(result) == {"t": "S"}
    bigger = run([_spot_pool(spot_by_default=False)], _agents(), [task("t", 16, constraints=spot)])
    assert sum(u.count for u in bigger.scale_up) == 1  # a new Spot instance: asked for


def test_by_default_spot_is_anyones() -> None:
    result = run([_spot_pool()], _agents(), [task("t", cpus=12)])
    assert targets(result) == {"t": "S"}
    bigger = run([_spot_pool()], _agents(), [task("t", cpus=16)])
    assert sum(u.count for u in bigger.scale_up) == 1


def _on_demand(snapshot: Snapshot, keep: bool) -> Snapshot:
    """Every pool and agent on-demand; pools keep Spot for those who ask when `keep`."""
    pools = [
        p.model_copy(
            update={
                "attributes": {**p.attributes, "lifecycle": "on-demand"},
                "spot_by_default": not keep,
            }
        )
        for p in snapshot.pools
    ]
    agents = [
        a.model_copy(update={"attributes": {**a.attributes, "lifecycle": "on-demand"}})
        for a in snapshot.agents
    ]
    return snapshot.model_copy(update={"pools": pools, "agents": agents})


@PROPERTY
@given(VARIED)
def test_keeping_spot_changes_nothing_where_there_is_none(snapshot: Snapshot) -> None:
    assert plan_json(plan(_on_demand(snapshot, True))) == plan_json(
        plan(_on_demand(snapshot, False))
    )
