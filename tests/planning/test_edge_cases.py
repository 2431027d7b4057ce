"""Snapshots at the edges: no pools, huge groups, odd group states, mixed constraints."""

from __future__ import annotations

import json

from controlplane.formats.plan_text import plan_json
from controlplane.planning import plan
from tests.support.builders import agent, pool, run, snapshot, targets, task


def test_task_with_no_pool_to_go_to_is_unplaced_with_a_reason() -> None:
    result = run([], [], [task("t")])
    assert [(u.task, u.reason) for u in result.unplaced] == [
        ("t", "the snapshot has no pools: nothing can hold it")
    ]


def test_unique_host_task_keeps_later_tasks_of_its_job_off_its_agent() -> None:
    """Tasks without the constraint come after it (pinned first), and must not join it."""
    pending = [
        task("j-0", job="j", constraints=[{"kind": "unique_host"}]),
        task("j-1", job="j"),
        task("other", job="k"),
    ]
    result = run([pool(zones=("us-east-1a",), desired=(1,), max_size=1)], [agent("A-1")], pending)
    assert targets(result) == {"j-0": "A-1", "other": "A-1"}
    assert [u.task for u in result.unplaced] == ["j-1"]
    assert "1 of them hold a unique_host task of job j" in result.unplaced[0].reason


def test_reasons_print_exact_numbers() -> None:
    p = pool(desired=(0, 0, 0))
    p["capacity"] = {"cpus": 128, "mem": 3997696}
    result = run([p], [], [task("t", cpus=1, mem=3997700)])
    assert result.unplaced[0].reason == "needs 3997700 mem; largest pool instance has 3997696"


def test_group_with_more_agents_than_desired_is_not_drained_further() -> None:
    """The group is already terminating instances on its own; draining more could take it
    below what anyone asked for. The hold says so instead of blaming `min`."""
    agents = [agent(f"A-{i}", idle_s=7200) for i in range(3)]
    result = run([pool(desired=(1, 0, 0))], agents)
    assert result.scale_down == []
    (hold,) = result.holds
    assert "group batch-a in us-east-1a is already shrinking (3 registered, desired 1)" in (
        hold.reason
    )
    assert "at min" not in hold.reason


def test_a_million_launching_instances_cost_a_row_per_task_not_per_instance() -> None:
    p = pool(zones=("us-east-1a", "us-east-1b"), desired=(1_000_000, 3), max_size=1_000_000)
    p.update(min_idle=1_000_000, max_idle=1_000_000)
    result = run([p], [], [task("t")])
    assert targets(result) == {"t": "batch/us-east-1a#0"}
    assert result.scale_up == []
    (hold,) = result.holds
    assert hold.reason.startswith("pool has 1000002 idle, max_idle 1000000; drained 0 of 2")


def test_a_large_idle_buffer_is_opened_balanced_in_one_step() -> None:
    p = pool(zones=("us-east-1a", "us-east-1b"), max_size=1_000_000)
    p.update(min_idle=1_000_000, max_idle=1_000_000)
    result = run([p], [], [task("t")])
    assert {(u.zone, u.count) for u in result.scale_up} == {
        ("us-east-1a", 500_001),
        ("us-east-1b", 500_000),
    }


def test_plan_does_not_depend_on_the_order_pools_are_listed() -> None:
    """Equal prices and equal launching instances: the tie goes by pool name, not position."""
    pools = [pool("zeta", desired=(1, 0, 0)), pool("alpha", desired=(1, 0, 0))]
    pending = [task("t")]
    forward = plan(snapshot(pools, [], pending))
    backward = plan(snapshot(list(reversed(pools)), [], pending))
    assert plan_json(forward) == plan_json(backward)
    assert json.loads(plan_json(forward))["placements"][0]["new"]["pool"] == "alpha"


def test_fit_slack_is_granted_once_not_per_task() -> None:
    """1,000 tasks of 1e-7 cpus on a full 1,000-cpu agent: the 1e-9 relative slack lets 10
    of them on (1e-6 cpus) and no more, on the per-task path (spread) as on the batched one."""
    for fitness in ("spread", "binpack"):
        p = pool(zones=("us-east-1a",), desired=(1,), fitness=fitness)
        p["capacity"] = {"cpus": 1000}
        full = agent("A-1", total={"cpus": 1000}, used={"cpus": 1000}, jobs={"x": 1})
        pending = [task(f"t{i:04d}", cpus=1e-7, mem=0) for i in range(1000)]
        result = run([p], [full], pending)
        on_agent = sum(1 for pl in result.placements if pl.agent == "A-1")
        assert on_agent == 10, fitness
