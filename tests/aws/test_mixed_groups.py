"""Mixed-instance groups over moto: accepted, counted at their smallest type, and raised in
capacity units when weighted (moto launches the template's type, weighted as the first
override, so the tests name the template's type first)."""

from __future__ import annotations

from moto.ec2.models.instance_types import INSTANCE_TYPES

from controlplane.aws.actions import apply_scale_downs, apply_scale_ups
from controlplane.aws.capacity import CapacityLedger
from controlplane.aws.instance_types import parse_instance_type
from controlplane.aws.pool_rules import PoolRules
from controlplane.model import ScaleDown, ScaleUp
from tests.aws.conftest import NOW, ZONES, World


def _up(asg: str, count: int) -> ScaleUp:
    return ScaleUp(pool="batch", asg=asg, zone=ZONES[0], count=count, reason="pending work")


def test_a_new_instance_counts_as_the_smallest_type_per_resource(world: World) -> None:
    # c5.2xlarge: 8 vCPU, 16 GiB; m5.2xlarge: 8 vCPU, 32 GiB; r5.xlarge: 4 vCPU, 32 GiB.
    overrides = (("m5.2xlarge", None), ("c5.2xlarge", None), ("r5.xlarge", None))
    world.group("batch-a", "batch", (ZONES[0],), instance_type="m5.2xlarge", overrides=overrides)
    seen = world.observe()
    assert seen.skipped == {}
    (pool,) = seen.pools
    reserve = world.settings.rules_for("batch").mem_reserve_mib
    assert pool.capacity["cpus"] == 4.0
    assert pool.capacity["mem"] == 16384.0 - reserve
    assert pool.instance_type == "c5.2xlarge|m5.2xlarge|r5.xlarge"
    # Never more than any of them brings, in every resource.
    for itype, _ in overrides:
        full = parse_instance_type(INSTANCE_TYPES[itype]).capacity(PoolRules())
        assert all(value <= full[name] for name, value in pool.capacity.items())


def test_an_unweighted_mixed_group_counts_instances(world: World) -> None:
    overrides = (("m5.2xlarge", None), ("m5.xlarge", None))
    world.group(
        "batch-a", "batch", (ZONES[0],), instance_type="m5.2xlarge", desired=1, overrides=overrides
    )
    observation = world.observe()
    assert observation.groups["batch-a"].units is None
    results, _ = apply_scale_ups(
        world.caller, world.autoscaling, [_up("batch-a", 2)], observation, CapacityLedger(), NOW
    )
    assert results[0].outcome == "done"
    assert world.desired("batch-a") == 3
    assert len(world.instance_ids("batch-a")) == 3


def test_a_weighted_group_is_raised_in_units_for_whole_instances(world: World) -> None:
    overrides = (("m5.2xlarge", 2), ("m5.xlarge", 1))
    world.group(
        "batch-a",
        "batch",
        (ZONES[0],),
        instance_type="m5.2xlarge",
        max_size=10,
        desired=4,
        overrides=overrides,
    )
    observation = world.observe()
    group = observation.groups["batch-a"]
    # Two m5.2xlarge of weight 2 present; 10 units leave room for 3 more of the heaviest.
    assert (group.present, group.desired, group.max) == (2, 2, 5)
    results, ledger = apply_scale_ups(
        world.caller, world.autoscaling, [_up("batch-a", 2)], observation, CapacityLedger(), NOW
    )
    assert results[0].outcome == "done"
    assert "8 capacity units" in results[0].detail
    assert world.desired("batch-a") == 8  # 4 units present + 2 instances x weight 2
    assert len(world.instance_ids("batch-a")) == 4  # both asked-for instances arrived
    assert ledger.raises["batch-a"].to_desired == 4  # the ledger counts instances
    again = world.observe().groups["batch-a"]
    assert (again.present, again.desired) == (4, 4)  # delivered: nothing pending
    # Terminating one takes its weight (2) off desired, whatever the API took off itself.
    victim = world.instance_ids("batch-a")[0]
    down = ScaleDown(
        pool="batch", agent="a", instance_id=victim, asg="batch-a", zone=ZONES[0], reason="idle"
    )
    results = apply_scale_downs(
        world.caller, world.autoscaling, [down], world.observe(), {victim: True}
    )
    assert [r.kind for r in results] == ["scale_down", "restate_units"]
    assert world.desired("batch-a") == 6
    assert len(world.instance_ids("batch-a")) == 3  # and nothing relaunched


def test_a_pool_whose_groups_launch_different_types_is_one_planner_pool_per_type(
    world: World,
) -> None:
    for zone in ZONES[:2]:
        world.group(f"batch-small-{zone[-1]}", "batch", (zone,), instance_type="m5.large")
        world.group(
            f"batch-large-{zone[-1]}",
            "batch",
            (zone,),
            overrides=(("m5.4xlarge", None),),
            tags={"controlplane:hourly_price": "0.768"},
        )
    seen = world.observe()
    assert seen.skipped == {}
    by_name = {p.name: p for p in seen.pools}
    assert sorted(by_name) == ["batch/m5.4xlarge", "batch/m5.large"]
    assert {p.family for p in seen.pools} == {"batch"}
    assert by_name["batch/m5.4xlarge"].hourly_price == 0.768
    assert by_name["batch/m5.large"].capacity["cpus"] == 2.0
    # The groups the plan acts on carry their planner pool, so actions check out.
    assert seen.groups["batch-large-a"].pool == "batch/m5.4xlarge"
    assert seen.groups["batch-small-b"].pool == "batch/m5.large"
