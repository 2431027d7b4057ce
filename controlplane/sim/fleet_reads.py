"""What the fleet bridge reads from AWS to describe an agent: hostname, resources, attributes.

Resources come from the AWS adapter's own code (`InstanceTypeInfo.capacity` under the pool's
rules with the group's tag overrides), never recomputed here, so an agent offers exactly
what the planner expects a new instance of its pool to offer.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from controlplane.aws.calls import AwsCaller, BotoClient
from controlplane.aws.errors import AwsError, BadAwsReplyError
from controlplane.aws.instance_types import InstanceTypeCatalog, LaunchTemplateTypes
from controlplane.aws.pool_rules import ATTRIBUTE_TAG_PREFIX, PoolRules, rules_with_overrides
from controlplane.aws.replies import ObservedGroup
from controlplane.model import LIFECYCLE

#: Errors of one read that the bridge survives (logged, counted, retried next step).
READ_ERRORS = (AwsError, BotoCoreError, ClientError)
#: EC2 states in which an instance's agent may register.
_RUNNING = frozenset({"pending", "running"})
_IDS_PER_CALL = 100
#: Launch template versions are re-read this often (seconds of the world's clock).
TEMPLATE_TTL_S = 600.0


@dataclass(frozen=True)
class AgentProfile:
    """What every agent of one group (and instance type) registers with."""

    resources: dict[str, float]
    attributes: dict[str, str | float]


class AgentProfiles:
    """Group (+ instance type) -> agent profile; the AWS lookups behind it are cached."""

    def __init__(
        self, caller: AwsCaller, ec2: BotoClient, rules: Callable[[str], PoolRules]
    ) -> None:
        self._rules = rules
        self._templates = LaunchTemplateTypes(caller, ec2, TEMPLATE_TTL_S, 0.0, random.Random(0))
        self._types = InstanceTypeCatalog(caller, ec2)

    def profile(self, group: ObservedGroup, itype: str | None, now: datetime) -> AgentProfile:
        """`itype` is the instance's own type when the reply names it, else the template's.

        Raises one of `READ_ERRORS` when something cannot be read.
        """
        if itype is None:
            if group.launch_types:
                itype = group.launch_types[0]
            elif group.template is not None:
                itype = self._templates.lookup([group.template], now)[group.template]
            else:
                raise BadAwsReplyError(f"group {group.name}: names no launch template")
        info = self._types.lookup([itype])[itype]
        rules = rules_with_overrides(self._rules(group.pool), group.tags, f"group {group.name}")
        attributes: dict[str, str | float] = {
            key.removeprefix(ATTRIBUTE_TAG_PREFIX): value
            for key, value in sorted(group.tags.items())
            if key.startswith(ATTRIBUTE_TAG_PREFIX)
        }
        attributes.update(pool=group.pool, zone=group.zone, asg=group.name)
        # What the agent's user data reads from instance metadata; the sim makes every
        # instance of a group that may buy Spot a Spot one.
        attributes[LIFECYCLE] = "spot" if group.purchase.uses_spot else "on-demand"
        return AgentProfile(info.capacity(rules), attributes)


def running_hostnames(caller: AwsCaller, ec2: BotoClient, ids: list[str]) -> dict[str, str]:
    """Private DNS name of each of `ids` that EC2 says is pending or running.

    An instance missing from the reply is left out (its agent waits); a malformed reply
    raises `BadAwsReplyError`.
    """
    out: dict[str, str] = {}
    for start in range(0, len(ids), _IDS_PER_CALL):
        batch = ids[start : start + _IDS_PER_CALL]
        reply = caller.read(ec2, "DescribeInstances", InstanceIds=batch)
        try:
            for reservation in reply.get("Reservations", []):
                for inst in reservation.get("Instances", []):
                    if inst.get("State", {}).get("Name") in _RUNNING:
                        iid = str(inst["InstanceId"])
                        out[iid] = str(inst.get("PrivateDnsName") or iid)
        except (KeyError, AttributeError, TypeError) as error:
            raise BadAwsReplyError(f"DescribeInstances: malformed reply ({error!r})") from error
    return out


def instance_type_of(raw_group: Mapping[str, Any], instance_id: str) -> str | None:
    """The type the instance itself runs (its agent's hardware), when the reply says."""
    for item in raw_group.get("Instances", []):
        if isinstance(item, Mapping) and item.get("InstanceId") == instance_id:
            itype = item.get("InstanceType")
            return itype if isinstance(itype, str) and itype else None
    return None
