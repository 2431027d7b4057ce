"""Weighted mixed-instance groups: the adapter's instance counts never promise more than AWS
can deliver, and what it sends stays within the group's MinSize and MaxSize (in units)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.aws.actions import apply_scale_downs, apply_scale_ups
from controlplane.aws.calls import AwsCaller, AwsMetrics
from controlplane.aws.capacity import CapacityLedger
from controlplane.aws.observation import AwsObservation
from controlplane.aws.replies import ObservedGroup, parse_group
from controlplane.aws.weights import GroupUnits
from controlplane.model import ScaleDown, ScaleUp
from tests.aws.test_bounds_properties import NOW, RecordingAutoScaling

TYPES = ("m5.large", "m5.xlarge", "m5.2xlarge", "m5.4xlarge")


@st.composite
def weighted_raw(draw: st.DrawFn) -> dict[str, Any]:
    """A DescribeAutoScalingGroups entry of a weighted group, in any consistent state."""
    types = draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=4, unique=True))
    weights = {t: draw(st.integers(1, 8)) for t in types}
    n = draw(st.integers(0, 8))
    instances = []
    for i in range(n):
        itype = draw(st.sampled_from([*types, "t3.micro"]))  # a type no override names
        item = {
            "InstanceId": f"i-{i}",
            "AvailabilityZone": "us-east-1a",
            "LifecycleState": draw(st.sampled_from(["InService", "Pending", "Terminating"])),
            "InstanceType": itype,
        }
        if draw(st.booleans()) and itype in weights:
            item["WeightedCapacity"] = str(weights[itype])
        instances.append(item)
    low = draw(st.integers(0, 20))
    high = draw(st.integers(low, low + 40))
    desired = draw(st.integers(low, high))
    return {
        "AutoScalingGroupName": "g",
        "MinSize": low,
        "MaxSize": high,
        "DesiredCapacity": desired,
        "AvailabilityZones": ["us-east-1a"],
        "Tags": [{"Key": "controlplane:pool", "Value": "p"}],
        "MixedInstancesPolicy": {
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": "lt-1"},
                "Overrides": [
                    {"InstanceType": t, "WeightedCapacity": str(w)} for t, w in weights.items()
                ],
            }
        },
        "Instances": instances,
    }


@settings(max_examples=400, deadline=None)
@given(
    present=st.integers(0, 10),
    extra_units=st.integers(0, 30),
    heaviest=st.integers(1, 8),
    low=st.integers(0, 40),
    span=st.integers(0, 40),
    desired_at=st.floats(0, 1),
    new_weights=st.lists(st.integers(1, 8), min_size=80, max_size=80),
)
def test_instance_counts_never_promise_more_than_aws_brings(
    present: int,
    extra_units: int,
    heaviest: int,
    low: int,
    span: int,
    desired_at: float,
    new_weights: list[int],
) -> None:
    units_present = present + extra_units
    desired = low + round(span * desired_at)
    units = GroupUnits(low, low + span, desired, present, units_present, heaviest)
    lo, want, hi = units.min_instances, units.desired_instances, units.max_instances
    assert 0 <= lo <= want <= hi
    weights = [min(w, heaviest) for w in new_weights]  # AWS picks any type, any order
    for target in range(present, hi + 1):
        sent = units.units_for(target)
        assert low <= sent <= low + span
        # AWS launches until the units present reach what was sent: count what arrives.
        arrived, total = 0, units_present
        while total < sent:
            total += weights[arrived]
            arrived += 1
        if target > want:
            assert present + arrived >= target  # every instance asked for arrives
    # Terminating down to the min count, whichever instances go, keeps MinSize in units.
    assert desired - (want - lo) * heaviest >= low


class UnitsAutoScaling(RecordingAutoScaling):
    """Applies desired and terminate calls in units, as AWS does for a weighted group."""

    def __init__(self, group: ObservedGroup, raw: dict[str, Any]) -> None:
        super().__init__(raw["DesiredCapacity"])
        assert group.units is not None
        self._weight = {
            i.instance_id: i.weight or _override(raw, i.instance_type) or group.units.heaviest
            for i in group.instances
        }

    def weight(self, instance_id: str) -> int:
        return self._weight[instance_id]


def _override(raw: dict[str, Any], itype: str | None) -> int | None:
    for item in raw["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"]:
        if item["InstanceType"] == itype:
            return int(item["WeightedCapacity"])
    return None


@settings(max_examples=300, deadline=None)
@given(
    raw=weighted_raw(),
    counts=st.lists(st.integers(-2, 12), max_size=3),
    victims=st.lists(st.integers(0, 9), max_size=10),
)
def test_weighted_groups_stay_within_their_sizes_in_units(
    raw: dict[str, Any], counts: list[int], victims: list[int]
) -> None:
    group = parse_group(raw)
    caller = AwsCaller(metrics=AwsMetrics(), sleep=lambda _s: None)
    observation = AwsObservation(NOW, (), {"g": group})
    client = UnitsAutoScaling(group, raw)
    ups = [ScaleUp(pool="p", asg="g", zone="us-east-1a", count=c, reason="r") for c in counts]
    apply_scale_ups(caller, client, ups, observation, CapacityLedger(), NOW)
    assert all(raw["MinSize"] <= sent <= raw["MaxSize"] for sent in client.sent)

    client.desired = raw["DesiredCapacity"]  # scale-downs act on the same observation
    downs = [
        ScaleDown(
            pool="p", agent=f"a{n}", instance_id=f"i-{n}", asg="g", zone="us-east-1a", reason="r"
        )
        for n in victims
    ]
    apply_scale_downs(caller, client, downs, observation, {f"i-{n}": True for n in victims})
    assert client.desired >= raw["MinSize"]


def test_a_weighted_group_in_instances() -> None:
    group = parse_group(
        {
            "AutoScalingGroupName": "g",
            "MinSize": 2,
            "MaxSize": 20,
            "DesiredCapacity": 9,
            "AvailabilityZones": ["us-east-1a"],
            "Tags": [{"Key": "controlplane:pool", "Value": "p"}],
            "MixedInstancesPolicy": {
                "LaunchTemplate": {
                    "LaunchTemplateSpecification": {"LaunchTemplateId": "lt-1"},
                    "Overrides": [
                        {"InstanceType": "m5.xlarge", "WeightedCapacity": "1"},
                        {"InstanceType": "m5.2xlarge", "WeightedCapacity": "2"},
                    ],
                }
            },
            "Instances": [
                {
                    "InstanceId": "i-1",
                    "AvailabilityZone": "us-east-1a",
                    "LifecycleState": "InService",
                    "InstanceType": "m5.2xlarge",
                },
                {
                    "InstanceId": "i-2",
                    "AvailabilityZone": "us-east-1a",
                    "LifecycleState": "InService",
                    "InstanceType": "m5.xlarge",
                    "WeightedCapacity": "1",
                },
            ],
        }
    )
    # 3 units present of 9: at least ceil(6 / 2) = 3 more instances are sure to come.
    assert (group.min, group.desired, group.max) == (2, 5, 10)
    assert group.launch_types == ("m5.2xlarge", "m5.xlarge")
    assert group.desired_value(6) == 3 + 4 * 2
