"""The idle buffer and scale-down: only idle agents past grace, AZ-balanced, within bounds."""

from __future__ import annotations

from tests.support.builders import agent, ago, pool, run, task

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def test_excess_idle_agents_are_drained_from_the_largest_zone() -> None:
    agents = [
        agent("A-1", zone="us-east-1a", idle_s=700),
        agent("A-2", zone="us-east-1a", idle_s=5000),
        agent("A-3", zone="us-east-1a", idle_s=900),
        agent("B-1", zone="us-east-1b", idle_s=9000),
        agent("C-1", zone="us-east-1c", idle_s=9000),
    ]
    plan = run([pool(desired=(3, 1, 1), max_idle=2)], agents)
    assert [d.agent for d in plan.scale_down] == ["A-2", "A-3", "B-1"]
    first = plan.scale_down[0]
    assert first.action == "drain" and first.instance_id == "i-A-2" and first.asg == "batch-a"
    assert first.reason.startswith("idle 5000s (grace 600s); pool has 5 idle, max_idle 2")


def test_idle_within_grace_is_kept_and_the_hold_says_why() -> None:
    agents = [agent("A-1", idle_s=100), agent("A-2", idle_s=200)]
    plan = run([pool(desired=(2, 0, 0))], agents)
    assert plan.scale_down == []
    assert "2 idle less than 600s" in plan.holds[0].reason


def test_a_grace_of_boot_multiples_drains_sooner_once_boot_is_measured() -> None:
    agents = [agent("A-1", idle_s=100), agent("A-2", idle_s=200)]
    ski = run([pool(desired=(2, 0, 0), boot_s=120, idle_grace_boots=1)], agents)
    (down,) = ski.scale_down
    assert down.agent == "A-2"
    assert down.reason.startswith("idle 200s (grace 120s: 1 x boot); pool has 2 idle")
    assert "1 idle less than 120s" in ski.holds[0].reason
    # No boot time measured yet, or a longer multiple: the configured grace holds.
    assert run([pool(desired=(2, 0, 0), idle_grace_boots=1)], agents).scale_down == []
    assert run([pool(desired=(2, 0, 0), boot_s=120, idle_grace_boots=10)], agents).scale_down == []


def test_busy_agents_and_agents_receiving_work_are_never_drained() -> None:
    agents = [
        agent("A-1", jobs={"x": 1}, used={"cpus": 16}),
        agent("A-2", idle_s=9000),
        agent("A-3", idle_s=9000),
    ]
    plan = run([pool(desired=(3, 0, 0))], agents, [task("t", cpus=1)])
    drained = {d.agent for d in plan.scale_down}
    placed = {p.target for p in plan.placements}
    assert "A-1" not in drained
    assert placed == {"A-2"}
    assert drained == {"A-3"}


def test_group_min_is_respected() -> None:
    agents = [agent("A-1", idle_s=9000), agent("A-2", idle_s=9000)]
    plan = run([pool(zones=("us-east-1a",), desired=(2,), min_size=1)], agents)
    assert [d.agent for d in plan.scale_down] == ["A-1"]
    assert "drained 1 of 2" in plan.holds[0].reason and "groups at min" in plan.holds[0].reason


def test_scale_down_cooldown_after_a_scale_down_or_up() -> None:
    agents = [agent("A-1", idle_s=9000)]
    for stamp in ("last_scale_down", "last_scale_up"):
        plan = run([pool(desired=(1, 0, 0))], agents, history={"batch": {stamp: ago(100)}})
        assert plan.scale_down == []
        assert "scale-down cooldown until 2026-11-23T12:03:20Z" in plan.holds[0].reason
    plan = run([pool(desired=(1, 0, 0))], agents, history={"batch": {"last_scale_down": ago(400)}})
    assert [d.agent for d in plan.scale_down] == ["A-1"]


def test_agent_in_no_group_or_with_unknown_idle_time_is_kept() -> None:
    agents = [agent("A-1", idle_s=9000, asg=None), agent("A-2", idle_s=None)]
    plan = run([pool(desired=(1, 0, 0))], agents)
    assert plan.scale_down == []


def test_min_idle_adds_instances_zone_balanced() -> None:
    plan = run([pool(desired=(1, 0, 0), min_idle=3, max_idle=3)], [agent("A-1", jobs={"x": 1})])
    assert [(s.zone, s.count) for s in plan.scale_up] == [(z, 1) for z in ZONES]
    assert "idle buffer: pool has 0 idle, min_idle 3" in plan.scale_up[0].reason


def test_empty_launching_instances_count_as_idle() -> None:
    plan = run([pool(desired=(2, 0, 0), min_idle=2, max_idle=2)], [])
    assert plan.scale_up == [] and plan.scale_down == []


def test_no_scale_down_while_the_pool_grows_in_the_same_plan() -> None:
    agents = [
        agent("A-1", idle_s=9000, attributes={"rack": "r1"}),
        agent("A-2", idle_s=9000, attributes={"rack": "r1"}),
    ]
    pin = [{"kind": "attribute", "name": "rack", "value": "r2"}]
    p = pool(desired=(2, 0, 0), attributes={"rack": "r2"})
    plan = run([p], agents, [task("t", constraints=pin)])
    assert len(plan.scale_up) == 1 and plan.scale_down == []
    assert "no scale-down while growing" in plan.holds[0].reason


def test_draining_agents_are_not_idle_candidates() -> None:
    agents = [agent("A-1", idle_s=9000, state="draining"), agent("A-2", idle_s=9000)]
    plan = run([pool(desired=(2, 0, 0), max_idle=1)], agents)
    assert plan.scale_down == []


def test_agent_using_resources_without_tasks_is_not_idle() -> None:
    agents = [agent("A-1", idle_s=9000, used={"cpus": 1})]
    plan = run([pool(desired=(1, 0, 0))], agents)
    assert plan.scale_down == []
