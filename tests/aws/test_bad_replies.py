"""Replies the adapter will not act on: a clear error naming the problem, and no write."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.aws.errors import BadAwsReplyError
from controlplane.aws.instance_types import parse_instance_type
from controlplane.aws.pool_rules import PoolRules, rules_with_overrides
from controlplane.aws.replies import parse_group
from tests.aws.conftest import ZONES, World


def _raw(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "AutoScalingGroupName": "g",
        "MinSize": 0,
        "MaxSize": 5,
        "DesiredCapacity": 1,
        "AvailabilityZones": ["us-east-1a"],
        "LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "$Latest"},
        "Tags": [{"Key": "controlplane:pool", "Value": "batch"}],
        "Instances": [
            {"InstanceId": "i-1", "AvailabilityZone": "us-east-1a", "LifecycleState": "InService"}
        ],
    }
    raw.update(changes)
    return {k: v for k, v in raw.items() if v is not None}


def _mixed(overrides: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "LaunchTemplate": None,
        "MixedInstancesPolicy": {
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": "lt-1"},
                "Overrides": overrides,
            }
        },
    }


def test_a_well_formed_group_parses() -> None:
    group = parse_group(_raw())
    assert (group.name, group.pool, group.zone, group.desired) == ("g", "batch", "us-east-1a", 1)
    assert group.instances[0].lifecycle_state == "InService"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"MinSize": None}, "group g: reply has no MinSize"),
        ({"DesiredCapacity": "3"}, "group g: DesiredCapacity is '3', not a count"),
        ({"MinSize": 6}, "group g: MinSize 6 exceeds MaxSize 5"),
        ({"AvailabilityZones": None}, "group g: reply has no AvailabilityZones"),
        (
            {"AvailabilityZones": ["us-east-1a", "us-east-1b"]},
            "group g: spans zones ['us-east-1a', 'us-east-1b']; the control plane needs one "
            "zone (one subnet) per group",
        ),
        ({"Tags": []}, "group g: tag controlplane:pool is missing or empty"),
        (
            {"LaunchTemplate": None, "LaunchConfigurationName": "old"},
            "group g: uses launch configuration 'old'",
        ),
        ({"LaunchTemplate": None}, "group g: reply names no launch template"),
        ({"Instances": [{"InstanceId": "i-1"}]}, "group g: instance i-1 has no LifecycleState"),
        (
            {
                "Instances": [
                    {
                        "InstanceId": "i-1",
                        "AvailabilityZone": "us-east-1b",
                        "LifecycleState": "InService",
                    }
                ]
            },
            "group g: instance i-1 is in us-east-1b, the group in us-east-1a",
        ),
        (
            _mixed([{"InstanceRequirements": {"VCpuCount": {"Min": 2}}}]),
            "group g: a MixedInstancesPolicy override names no InstanceType",
        ),
        (
            _mixed(
                [
                    {"InstanceType": "m5.large", "WeightedCapacity": "1"},
                    {"InstanceType": "c5.large"},
                ]
            ),
            "group g: some overrides have a WeightedCapacity, others not",
        ),
        (
            _mixed([{"InstanceType": "m5.large", "WeightedCapacity": "two"}]),
            "group g: override m5.large: WeightedCapacity 'two' is not a whole number 1-999",
        ),
        (
            _mixed([{"InstanceType": "m5.large", "WeightedCapacity": "0"}]),
            "group g: override m5.large: WeightedCapacity '0' is not a whole number 1-999",
        ),
    ],
)
def test_bad_group_replies_name_the_problem(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(BadAwsReplyError) as caught:
        parse_group(_raw(**changes))
    assert str(caught.value).startswith(message)


def test_group_without_a_name() -> None:
    with pytest.raises(BadAwsReplyError, match="a group has no AutoScalingGroupName"):
        parse_group(_raw(AutoScalingGroupName=None))


def test_instance_type_reply_without_memory() -> None:
    with pytest.raises(BadAwsReplyError, match=r"m5.large: reply has no MemoryInfo.SizeInMiB"):
        parse_instance_type({"InstanceType": "m5.large", "VCpuInfo": {"DefaultVCpus": 2}})


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"controlplane:min_idle": "two"}, "tag controlplane:min_idle='two' is not a number"),
        ({"controlplane:max_idle": "1.5"}, "tag controlplane:max_idle='1.5' is not a whole number"),
        ({"controlplane:idle_grace_s": "-1"}, "tag controlplane:idle_grace_s='-1' is invalid"),
        ({"controlplane:fitness": "random"}, "tag controlplane:fitness='random' is invalid"),
        ({"controlplane:consolidate": "maybe"}, "tag controlplane:consolidate='maybe' is not true"),
        (
            {"controlplane:consolidate_below": "1.5"},
            "tag controlplane:consolidate_below='1.5' is invalid",
        ),
        (
            {"controlplane:max_cordon_share": "0"},
            "tag controlplane:max_cordon_share='0' is invalid",
        ),
        (
            {"controlplane:relocate_after_s": "-5"},
            "tag controlplane:relocate_after_s='-5' is invalid",
        ),
        (
            {"controlplane:max_relocations_per_hour": "2.5"},
            "tag controlplane:max_relocations_per_hour='2.5' is not a whole number",
        ),
        (
            {"controlplane:idle_grace_boots": "0"},
            "tag controlplane:idle_grace_boots='0' is invalid",
        ),
        (
            {"controlplane:spot_by_default": "sometimes"},
            "tag controlplane:spot_by_default='sometimes' is not true or false",
        ),
    ],
)
def test_bad_rule_tags_name_the_tag(tags: dict[str, str], message: str) -> None:
    with pytest.raises(BadAwsReplyError) as caught:
        rules_with_overrides(PoolRules(), tags, "group g")
    assert str(caught.value).startswith(f"group g: {message}")


def test_relocation_tags_set_and_clear_the_rule() -> None:
    tags = {"controlplane:relocate_after_s": "900", "controlplane:max_relocations_per_hour": "3"}
    rules = rules_with_overrides(PoolRules(), tags, "group g")
    assert (rules.relocate_after_s, rules.max_relocations_per_hour) == (900.0, 3)
    off = rules_with_overrides(rules, {"controlplane:relocate_after_s": "none"}, "group g")
    assert off.relocate_after_s is None
    ski = rules_with_overrides(rules, {"controlplane:idle_grace_boots": "1"}, "group g")
    assert ski.idle_grace_boots == 1.0


def _no_writes(world: World) -> bool:
    return all(op.startswith("Describe") for op in world.metrics.counts())


def test_group_spanning_two_zones_in_moto_is_skipped_and_reported(world: World) -> None:
    world.group("wide", "batch", ZONES[:2], desired=0)
    world.group("fine", "other", (ZONES[0],))
    seen = world.observe()
    assert "group wide: spans zones" in seen.skipped["wide"]
    assert set(seen.groups) == {"fine"}  # the rest of the cluster is still observed
    assert _no_writes(world)


def test_unknown_instance_type_is_refused(world: World) -> None:
    world.group("odd-a", "odd", (ZONES[0],), instance_type="zz.huge")
    with pytest.raises(BadAwsReplyError, match=r"unknown instance type in \['zz.huge'\]"):
        world.observe()
    assert _no_writes(world)


def test_two_groups_of_a_pool_in_one_zone_skip_the_pool(world: World) -> None:
    world.group("batch-1", "batch", (ZONES[0],))
    world.group("batch-2", "batch", (ZONES[0],))
    seen = world.observe()
    assert "more than one group in zone" in seen.skipped["batch-1"]
    assert set(seen.skipped) == {"batch-1", "batch-2"} and not seen.pools


def test_groups_of_a_pool_disagreeing_on_rules_skip_the_pool(world: World) -> None:
    world.group("batch-a", "batch", (ZONES[0],), tags={"controlplane:max_idle": "2"})
    world.group("batch-b", "batch", (ZONES[1],), tags={"controlplane:max_idle": "5"})
    seen = world.observe()
    assert "pool batch: its groups' controlplane:* rule" in seen.skipped["batch-a"]
    assert not seen.pools


def test_a_malformed_rule_tag_skips_only_its_group(world: World) -> None:
    world.group("batch-a", "batch", (ZONES[0],), tags={"controlplane:min_idle": "lots"})
    world.group("batch-b", "batch", (ZONES[1],))
    seen = world.observe()
    assert "tag controlplane:min_idle='lots' is not a number" in seen.skipped["batch-a"]
    assert [g.asg for p in seen.pools for g in p.groups] == ["batch-b"]
