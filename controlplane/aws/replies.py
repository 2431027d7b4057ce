"""Reading Auto Scaling replies into typed records, refusing what we cannot act on.

A group whose reply lacks a field, spans two zones or has no launch template is not
guessed at: the adapter names the group and the problem and acts on nothing, because a
wrong zone or size would send capacity (and money) to the wrong place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from controlplane.aws.errors import BadAwsReplyError
from controlplane.aws.pool_rules import POOL_TAG
from controlplane.aws.purchase import Purchase, parse_purchase
from controlplane.aws.weights import GroupUnits

#: Lifecycle states of an instance on its way out: never terminate or count it again.
LEAVING_PREFIXES = ("Terminating", "Terminated", "Detaching", "Detached", "Warmed")
#: The state an ASG-initiated termination waits in while our lifecycle hook holds it.
TERMINATING_WAIT = "Terminating:Wait"


@dataclass(frozen=True)
class TemplateRef:
    """A launch template as a group names it: id (or name) and version string."""

    key: str
    by_name: bool
    version: str


@dataclass(frozen=True)
class ObservedInstance:
    """One instance of a group as Auto Scaling reports it."""

    instance_id: str
    zone: str
    lifecycle_state: str
    protected: bool
    healthy: bool
    #: The type the instance runs, where the reply says; its WeightedCapacity in a weighted
    #: group (the reply's, else its type's, else the heaviest type's: never undercounted).
    instance_type: str | None = None
    weight: int | None = None

    @property
    def leaving(self) -> bool:
        """Terminating (or detaching): not capacity, not a candidate for termination."""
        return self.lifecycle_state.startswith(LEAVING_PREFIXES)


@dataclass(frozen=True)
class ObservedGroup:
    """One Auto Scaling group of a pool, in one zone.

    `min`, `max` and `desired` count instances. For a weighted mixed-instance group they are
    the adapter's translation of AWS's units (`units` keeps those; `weights.py` says how).
    """

    name: str
    pool: str
    zone: str
    min: int
    max: int
    desired: int
    tags: Mapping[str, str]
    template: TemplateRef | None
    #: The instance types a MixedInstancesPolicy lets AWS launch (empty: the template's).
    launch_types: tuple[str, ...]
    instances: tuple[ObservedInstance, ...]
    units: GroupUnits | None = None
    #: How it buys instances (on-demand unless its distribution asks for Spot).
    purchase: Purchase = field(default_factory=Purchase)

    def desired_value(self, instances: int) -> int:
        """The DesiredCapacity to send for `instances` instances (units when weighted)."""
        return instances if self.units is None else self.units.units_for(instances)

    def instance(self, instance_id: str) -> ObservedInstance | None:
        return next((i for i in self.instances if i.instance_id == instance_id), None)

    @property
    def present(self) -> int:
        """Instances that are, or will soon be, capacity (everything not leaving)."""
        return sum(1 for i in self.instances if not i.leaving)


def parse_group(raw: Mapping[str, Any]) -> ObservedGroup:
    """One DescribeAutoScalingGroups entry; BadAwsReplyError names the group and the problem."""
    name = raw.get("AutoScalingGroupName")
    if not isinstance(name, str) or not name:
        raise BadAwsReplyError("DescribeAutoScalingGroups: a group has no AutoScalingGroupName")
    where = f"group {name}"
    tags = _tags(raw, where)
    pool = tags.get(POOL_TAG, "").strip()
    if not pool:
        raise BadAwsReplyError(f"{where}: tag {POOL_TAG} is missing or empty")
    sizes = {
        field: _count(raw, field, where) for field in ("MinSize", "MaxSize", "DesiredCapacity")
    }
    if sizes["MinSize"] > sizes["MaxSize"]:
        raise BadAwsReplyError(
            f"{where}: MinSize {sizes['MinSize']} exceeds MaxSize {sizes['MaxSize']}"
        )
    zones = raw.get("AvailabilityZones")
    if not isinstance(zones, list) or not zones:
        raise BadAwsReplyError(f"{where}: reply has no AvailabilityZones")
    if len(set(zones)) != 1:
        raise BadAwsReplyError(
            f"{where}: spans zones {sorted(set(zones))}; the control plane needs one zone "
            "(one subnet) per group to keep zones balanced itself"
        )
    zone = str(zones[0])
    template, weights = _template(raw, where)
    purchase = parse_purchase(raw, where)
    raw_instances = raw.get("Instances", [])
    if not isinstance(raw_instances, list):
        raise BadAwsReplyError(f"{where}: Instances is not a list")
    instances = tuple(_instance(item, zone, where) for item in raw_instances)
    units = None
    if any(weights.values()):
        heaviest = max(w or 1 for w in weights.values())
        instances = tuple(
            replace(i, weight=_weight(i, weights, heaviest)) for i in instances
        )  # every instance of a weighted group knows the units it counts for
        units = _units(sizes, heaviest, instances)
    return ObservedGroup(
        name=name,
        pool=pool,
        zone=zone,
        min=units.min_instances if units else sizes["MinSize"],
        max=units.max_instances if units else sizes["MaxSize"],
        desired=units.desired_instances if units else sizes["DesiredCapacity"],
        tags=tags,
        template=template,
        launch_types=tuple(sorted(weights)),
        instances=instances,
        units=units,
        purchase=purchase,
    )


def _units(
    sizes: Mapping[str, int], heaviest: int, instances: tuple[ObservedInstance, ...]
) -> GroupUnits:
    present = [i for i in instances if not i.leaving]
    return GroupUnits(
        min=sizes["MinSize"],
        max=sizes["MaxSize"],
        desired=sizes["DesiredCapacity"],
        present=len(present),
        present_units=sum(i.weight or heaviest for i in present),
        heaviest=heaviest,
    )


def _weight(inst: ObservedInstance, weights: Mapping[str, int | None], heaviest: int) -> int:
    """The instance's own weight, else its type's, else the heaviest (never undercounted)."""
    if inst.weight is not None:
        return inst.weight
    known = weights.get(inst.instance_type or "")
    return known if known is not None else heaviest


def _tags(raw: Mapping[str, Any], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in raw.get("Tags", []) or []:
        key = tag.get("Key") if isinstance(tag, Mapping) else None
        if not isinstance(key, str):
            raise BadAwsReplyError(f"{where}: a tag has no Key")
        out[key] = str(tag.get("Value", ""))
    return out


def _count(raw: Mapping[str, Any], field: str, where: str) -> int:
    value = raw.get(field)
    if value is None:
        raise BadAwsReplyError(f"{where}: reply has no {field}")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadAwsReplyError(f"{where}: {field} is {value!r}, not a count")
    return value


def _template(
    raw: Mapping[str, Any], where: str
) -> tuple[TemplateRef | None, dict[str, int | None]]:
    """The launch template, and the MixedInstancesPolicy's types with their weights."""
    spec = raw.get("LaunchTemplate")
    weights: dict[str, int | None] = {}
    mixed = raw.get("MixedInstancesPolicy")
    if spec is None and isinstance(mixed, Mapping):
        launch = mixed.get("LaunchTemplate", {})
        if not isinstance(launch, Mapping):
            raise BadAwsReplyError(f"{where}: MixedInstancesPolicy.LaunchTemplate is not an object")
        spec = launch.get("LaunchTemplateSpecification")
        weights = _overrides(launch.get("Overrides") or [], where)
    if spec is None:
        if raw.get("LaunchConfigurationName"):
            raise BadAwsReplyError(
                f"{where}: uses launch configuration {raw['LaunchConfigurationName']!r}; "
                "the control plane reads instance types from launch templates only"
            )
        raise BadAwsReplyError(f"{where}: reply names no launch template")
    if not isinstance(spec, Mapping):
        raise BadAwsReplyError(f"{where}: LaunchTemplate is not an object")
    version = str(spec.get("Version") or "$Default")
    if spec.get("LaunchTemplateId"):
        return TemplateRef(str(spec["LaunchTemplateId"]), False, version), weights
    if spec.get("LaunchTemplateName"):
        return TemplateRef(str(spec["LaunchTemplateName"]), True, version), weights
    raise BadAwsReplyError(f"{where}: LaunchTemplate has neither LaunchTemplateId nor Name")


def _overrides(raw: Any, where: str) -> dict[str, int | None]:
    """Override instance types and their weights (None: unweighted); all or none weighted.

    Overrides by instance requirements (attribute-based selection) are refused: the types
    they may launch, hence the capacity a new instance brings, are not known in advance.
    """
    if not isinstance(raw, list):
        raise BadAwsReplyError(f"{where}: MixedInstancesPolicy overrides are not a list")
    out: dict[str, int | None] = {}
    for item in raw:
        itype = item.get("InstanceType") if isinstance(item, Mapping) else None
        if not isinstance(itype, str) or not itype:
            raise BadAwsReplyError(
                f"{where}: a MixedInstancesPolicy override names no InstanceType (instance "
                "requirements are not supported: the capacity of a new instance must be known)"
            )
        weight = _weight_of(item.get("WeightedCapacity"), f"{where}: override {itype}")
        if itype in out and out[itype] != weight:
            raise BadAwsReplyError(f"{where}: override {itype} is listed with two weights")
        out[itype] = weight
    if len({w is None for w in out.values()}) > 1:
        raise BadAwsReplyError(f"{where}: some overrides have a WeightedCapacity, others not")
    return out


def _weight_of(value: Any, where: str) -> int | None:
    """A WeightedCapacity (AWS sends a string of 1-999), or None when absent."""
    if value is None:
        return None
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= 999:
        raise BadAwsReplyError(f"{where}: WeightedCapacity {value!r} is not a whole number 1-999")
    return int(text)


def _instance(item: Any, zone: str, where: str) -> ObservedInstance:
    if not isinstance(item, Mapping):
        raise BadAwsReplyError(f"{where}: an instance entry is not an object")
    iid = item.get("InstanceId")
    if not isinstance(iid, str) or not iid:
        raise BadAwsReplyError(f"{where}: an instance has no InstanceId")
    state = item.get("LifecycleState")
    if not isinstance(state, str) or not state:
        raise BadAwsReplyError(f"{where}: instance {iid} has no LifecycleState")
    inst_zone = str(item.get("AvailabilityZone") or zone)
    if inst_zone != zone:
        raise BadAwsReplyError(f"{where}: instance {iid} is in {inst_zone}, the group in {zone}")
    itype = item.get("InstanceType")
    return ObservedInstance(
        instance_id=iid,
        zone=inst_zone,
        lifecycle_state=state,
        protected=bool(item.get("ProtectedFromScaleIn", False)),
        healthy=str(item.get("HealthStatus", "Healthy")) == "Healthy",
        instance_type=itype if isinstance(itype, str) and itype else None,
        weight=_weight_of(item.get("WeightedCapacity"), f"{where}: instance {iid}"),
    )
