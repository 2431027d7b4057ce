"""Reading Auto Scaling replies into typed records, refusing what we cannot act on.

A group whose reply lacks a field, spans two zones or has no launch template is not
guessed at: the adapter names the group and the problem and acts on nothing, because a
wrong zone or size would send capacity (and money) to the wrong place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controlplane.aws.errors import BadAwsReplyError
from controlplane.aws.pool_rules import POOL_TAG

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

    @property
    def leaving(self) -> bool:
        """Terminating (or detaching): not capacity, not a candidate for termination."""
        return self.lifecycle_state.startswith(LEAVING_PREFIXES)


@dataclass(frozen=True)
class ObservedGroup:
    """One Auto Scaling group of a pool, in one zone."""

    name: str
    pool: str
    zone: str
    min: int
    max: int
    desired: int
    tags: Mapping[str, str]
    template: TemplateRef | None
    instance_type_override: str | None
    instances: tuple[ObservedInstance, ...]

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
    template, override = _template(raw, where)
    raw_instances = raw.get("Instances", [])
    if not isinstance(raw_instances, list):
        raise BadAwsReplyError(f"{where}: Instances is not a list")
    instances = tuple(_instance(item, zone, where) for item in raw_instances)
    return ObservedGroup(
        name=name,
        pool=pool,
        zone=zone,
        min=sizes["MinSize"],
        max=sizes["MaxSize"],
        desired=sizes["DesiredCapacity"],
        tags=tags,
        template=template,
        instance_type_override=override,
        instances=instances,
    )


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


def _template(raw: Mapping[str, Any], where: str) -> tuple[TemplateRef | None, str | None]:
    spec = raw.get("LaunchTemplate")
    override: str | None = None
    mixed = raw.get("MixedInstancesPolicy")
    if spec is None and isinstance(mixed, Mapping):
        launch = mixed.get("LaunchTemplate", {})
        spec = launch.get("LaunchTemplateSpecification")
        types = sorted(
            {o["InstanceType"] for o in launch.get("Overrides", []) if "InstanceType" in o}
        )
        if len(types) > 1:
            raise BadAwsReplyError(
                f"{where}: mixes instance types {types}; a pool's agents must be identical"
            )
        override = types[0] if types else None
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
        return TemplateRef(str(spec["LaunchTemplateId"]), False, version), override
    if spec.get("LaunchTemplateName"):
        return TemplateRef(str(spec["LaunchTemplateName"]), True, version), override
    raise BadAwsReplyError(f"{where}: LaunchTemplate has neither LaunchTemplateId nor Name")


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
    return ObservedInstance(
        instance_id=iid,
        zone=inst_zone,
        lifecycle_state=state,
        protected=bool(item.get("ProtectedFromScaleIn", False)),
        healthy=str(item.get("HealthStatus", "Healthy")) == "Healthy",
    )
