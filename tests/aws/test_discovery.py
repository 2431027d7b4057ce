"""Discovery and observation against moto: pools, zones, capacity from instance types."""

from __future__ import annotations

from datetime import timedelta

import pytest

from controlplane.aws import discovery
from controlplane.aws.capacity import CapacityLedger, ZoneBackoff
from tests.aws.conftest import NOW, ZONES, World


def test_two_pools_three_zones_become_snapshot_pools(world: World) -> None:
    world.two_pools(desired=1)
    world.group("other-a", "batch", (ZONES[0],), cluster="staging")  # another cluster's

    observation = world.observe()

    assert [p.name for p in observation.pools] == ["batch", "web"]
    batch, web = observation.pools
    assert [(g.asg, g.zone, g.desired) for g in batch.groups] == [
        ("batch-a", "us-east-1a", 1),
        ("batch-b", "us-east-1b", 1),
        ("batch-c", "us-east-1c", 1),
    ]
    assert "other-a" not in observation.groups
    # m5.xlarge: 4 vCPUs, 16384 MiB less the default 1024 MiB reserve; "Up to 10
    # Gigabit" is a burst, so network comes from the card's baseline.
    assert batch.instance_type == "m5.xlarge"
    assert batch.capacity["cpus"] == 4.0
    assert batch.capacity["mem"] == 16384 - 1024
    assert batch.capacity["network"] > 0
    assert (batch.min_idle, batch.max_idle) == (1, 3)
    # web has its own configured rules (reserve 512 MiB of a c5.large's 4096).
    assert web.capacity["mem"] == 4096 - 512
    assert (web.min_idle, web.max_idle) == (0, 2)


def test_observed_groups_carry_instances_state_and_protection(world: World) -> None:
    world.two_pools(desired=2)
    observation = world.observe()
    group = observation.groups["web-b"]
    assert len(group.instances) == 2
    assert all(i.lifecycle_state == "InService" and not i.protected for i in group.instances)
    assert {i.zone for i in group.instances} == {"us-east-1b"}


def test_a_pool_scales_from_zero_with_capacity_known(world: World) -> None:
    world.two_pools(desired=0)
    batch = world.observe().pools[0]
    assert all(g.desired == 0 for g in batch.groups)
    assert batch.capacity["cpus"] == 4.0


def test_launching_instances_are_those_not_registered_as_agents(world: World) -> None:
    world.two_pools(desired=2)
    observation = world.observe()
    registered = {world.instance_ids("batch-a")[0]}
    launching = observation.launching(registered)
    assert len(launching["batch-a"]) == 1
    assert len(launching["web-c"]) == 2
    assert sum(len(v) for v in launching.values()) == 6 * 2 - 1


def test_tag_overrides_and_attributes(world: World) -> None:
    tags = {"controlplane:max_idle": "7", "controlplane:attr:rack": "r1"}
    for zone in ZONES[:2]:
        world.group(f"gpu-{zone[-1]}", "gpu", (zone,), instance_type="m5.xlarge", tags=tags)
    pool = world.observe().pools[0]
    assert pool.max_idle == 7
    assert pool.min_idle == 1  # from configuration defaults
    assert pool.attributes == {"lifecycle": "on-demand", "rack": "r1"}


def test_backoff_in_the_ledger_marks_the_group_unavailable(world: World) -> None:
    world.two_pools(desired=1)
    until = NOW + timedelta(minutes=5)
    ledger = CapacityLedger(
        backoffs={"batch-c": ZoneBackoff(until=until, failures=1, reason="no capacity")}
    )
    batch = world.observe(ledger).pools[0]
    assert {g.asg: g.unavailable_until for g in batch.groups} == {
        "batch-a": None,
        "batch-b": None,
        "batch-c": until,
    }


def test_discovery_is_cached_and_later_passes_describe_by_name(world: World) -> None:
    world.two_pools(desired=1)
    world.observe()
    world.observe()
    # Both passes: one DescribeAutoScalingGroups each; templates and types read once.
    assert world.metrics.count("DescribeAutoScalingGroups") == 2
    assert world.metrics.count("DescribeLaunchTemplateVersions") == 1
    assert world.metrics.count("DescribeInstanceTypes") == 1


def test_groups_untagged_or_deleted_after_discovery_drop_out(world: World) -> None:
    world.two_pools(desired=0)
    assert len(world.observe().groups) == 6
    world.check.delete_tags(
        Tags=[
            {
                "ResourceId": "web-a",
                "ResourceType": "auto-scaling-group",
                "Key": "controlplane:pool",
            }
        ]
    )
    world.check.delete_auto_scaling_group(AutoScalingGroupName="web-b", ForceDelete=True)
    later = world.observer.observe(CapacityLedger(), NOW + timedelta(seconds=1))  # by name
    assert sorted(later.groups) == ["batch-a", "batch-b", "batch-c", "web-c"]
    assert world.metrics.count("DescribeAutoScalingGroups") == 2


def test_discovery_pages_and_name_batches(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "GROUPS_PER_CALL", 4)
    world.two_pools(desired=0)
    assert len(world.observe().groups) == 6  # two pages of the tag filter
    assert world.metrics.count("DescribeAutoScalingGroups") == 2
    assert len(world.observe().groups) == 6  # two batches of names
    assert world.metrics.count("DescribeAutoScalingGroups") == 4
