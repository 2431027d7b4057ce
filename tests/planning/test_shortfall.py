"""Shortfall: launching instances first, then new ones, zone-balanced within bounds."""

from __future__ import annotations

from controlplane.model import ScaleUp
from tests.support.builders import agent, ago, pool, run, targets, task


def _counts(scale_up: list[ScaleUp]) -> dict[str, int]:
    return {s.zone: s.count for s in scale_up}


def test_scale_from_zero_uses_pool_capacity_and_balances_zones() -> None:
    plan = run([pool()], [], [task(f"t{i}", cpus=8, mem=1000) for i in range(6)])
    assert _counts(plan.scale_up) == {"us-east-1a": 1, "us-east-1b": 1, "us-east-1c": 1}
    assert all(s.reason == "shortfall: 2 tasks need 1 new m5.4xlarge" for s in plan.scale_up)
    assert plan.summary.lower_bound == 3 == plan.summary.agents_needed


def test_launching_instances_are_filled_before_new_ones() -> None:
    # Zone a: desired 2, one registered, so one launching instance (index 0).
    agents = [agent("A-1", used={"cpus": 16}, jobs={"x": 1})]
    pending = [task(f"t{i}", cpus=16, mem=1000) for i in range(2)]
    plan = run([pool(zones=("us-east-1a",), desired=(2,))], agents, pending)
    where = sorted(targets(plan).values())
    assert where == ["batch/us-east-1a#0", "batch/us-east-1a#1"]
    assert _counts(plan.scale_up) == {"us-east-1a": 1}
    assert plan.placements[0].reason.startswith("launching batch instance 0")


def test_group_max_is_never_exceeded_and_the_rest_is_unplaced() -> None:
    plan = run(
        [pool(zones=("us-east-1a", "us-east-1b"), desired=(1, 2), max_size=2)],
        [],
        [task(f"t{i}", cpus=16) for i in range(5)],
    )
    assert _counts(plan.scale_up) == {"us-east-1a": 1}
    # 3 launching + 1 new hold 4 tasks; the fifth cannot go anywhere.
    assert len(plan.unplaced) == 1
    reason = plan.unplaced[0].reason
    assert "us-east-1a at max 2" in reason and "us-east-1b at max 2" in reason


def test_unavailable_zone_is_skipped_and_its_launching_instances_not_trusted() -> None:
    p = pool(desired=(0, 1, 0))
    p["groups"][1]["unavailable_until"] = ago(-300)  # five minutes from now
    plan = run([p], [], [task(f"t{i}", cpus=16) for i in range(2)])
    assert _counts(plan.scale_up) == {"us-east-1a": 1, "us-east-1c": 1}
    assert all("us-east-1b" not in pl.target for pl in plan.placements)


def test_past_unavailability_no_longer_blocks() -> None:
    p = pool(zones=("us-east-1a",))
    p["groups"][0]["unavailable_until"] = ago(10)
    plan = run([p], [], [task("t", cpus=16)])
    assert _counts(plan.scale_up) == {"us-east-1a": 1}


def test_scale_up_cooldown_blocks_new_instances_but_not_launching_ones() -> None:
    history = {"batch": {"last_scale_up": ago(30)}}
    plan = run([pool(desired=(1, 0, 0))], [], [task("a", cpus=16), task("b", cpus=16)], history)
    assert plan.scale_up == []
    assert len(plan.placements) == 1 and plan.placements[0].target == "batch/us-east-1a#0"
    assert "scale-up cooldown until 2026-11-23T12:00:30Z" in plan.unplaced[0].reason


def test_cheapest_pool_takes_a_task_without_pool() -> None:
    pools = [
        pool("big", hourly_price=1.0, zones=("us-east-1a",)),
        pool("cheap", hourly_price=0.2, zones=("us-east-1a",)),
    ]
    plan = run(pools, [], [task("t", cpus=2)])
    assert [(s.pool, s.count) for s in plan.scale_up] == [("cheap", 1)]


def test_new_instances_go_to_the_smallest_zones_first() -> None:
    plan = run([pool(desired=(3, 1, 1))], [], [])
    assert plan.scale_up == []
    pending = [task(f"t{i}", cpus=16) for i in range(7)]
    # 5 launching instances take 5 tasks; two new ones go to b and c.
    plan = run([pool(desired=(3, 1, 1))], [], pending)
    assert _counts(plan.scale_up) == {"us-east-1b": 1, "us-east-1c": 1}


def test_zone_pinned_work_scales_only_that_zone() -> None:
    pin = [{"kind": "attribute", "name": "zone", "value": "us-east-1c"}]
    plan = run([pool()], [], [task(f"t{i}", cpus=16, constraints=pin) for i in range(2)])
    assert _counts(plan.scale_up) == {"us-east-1c": 2}


def test_balanced_job_opens_one_instance_per_zone() -> None:
    balanced = [{"kind": "balanced", "attribute": "zone"}, {"kind": "unique_host"}]
    pending = [task(f"e{i}", job="etl", constraints=balanced) for i in range(3)]
    plan = run([pool()], [], pending)
    assert _counts(plan.scale_up) == {"us-east-1a": 1, "us-east-1b": 1, "us-east-1c": 1}


def test_existing_agent_in_wrong_pool_does_not_count_for_pinned_task() -> None:
    pools = [pool("batch"), pool("svc", desired=(1, 0, 0))]
    agents = [agent("S-1", pool_name="svc")]
    plan = run(pools, agents, [task("t", pool="batch")])
    assert [(s.pool, s.zone) for s in plan.scale_up] == [("batch", "us-east-1a")]


def test_soft_zone_preference_breaks_ties_between_equal_zones_only() -> None:
    prefer_b = [{"kind": "attribute", "name": "zone", "value": "us-east-1b", "soft": True}]
    plan = run([pool()], [], [task("t", cpus=16, constraints=prefer_b)])
    assert _counts(plan.scale_up) == {"us-east-1b": 1}
    # Zone b is already the largest: balance wins over the preference.
    plan = run(
        [pool(desired=(0, 1, 0))],
        [agent("B-1", zone="us-east-1b", jobs={"x": 1}, used={"cpus": 16})],
        [task("t", cpus=16, constraints=prefer_b)],
    )
    assert _counts(plan.scale_up) == {"us-east-1a": 1}


def test_an_instance_opened_for_constrained_work_is_filled_before_another_opens() -> None:
    # Found by hypothesis: the plain task (licence) waited for the shortfall packing, then a
    # constrained one (soft rack) opened a gpu instance with room for both, and the packing
    # opened a second instead of using it.
    gpu = pool("gpu", zones=("us-east-1a",))
    gpu["capacity"] = {"cpus": 16.0, "disk": 190000.0, "licence": 4.0}
    pending = [
        task(
            "pinned",
            cpus=1,
            mem=0,
            resources={"cpus": 1.0, "disk": 5000.0},
            constraints=[{"kind": "attribute", "name": "rack", "value": "r1", "soft": True}],
        ),
        task("plain", resources={"licence": 1.0}),
    ]
    agents = [agent("A-0", attributes={"rack": "r1"})]
    plan = run([pool(zones=("us-east-1a",)), gpu], agents, pending)
    assert set(targets(plan).values()) == {"gpu/us-east-1a#0"}
    assert _counts(plan.scale_up) == {"us-east-1a": 1}
