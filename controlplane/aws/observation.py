"""One observation pass: the cluster's groups as snapshot pools, plus the raw group state.

The pools are contract models (`controlplane.model.Pool`) the planner reads; the observed
groups keep what acting needs and the planner does not (instance ids, lifecycle states,
protection flags). Nothing here writes to AWS.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from controlplane.aws.calls import AwsCaller, BotoClient
from controlplane.aws.capacity import CapacityLedger, activity_failure
from controlplane.aws.discovery import GroupDirectory
from controlplane.aws.errors import BadAwsReplyError
from controlplane.aws.instance_types import (
    InstanceTypeCatalog,
    InstanceTypeInfo,
    LaunchTemplateTypes,
    smallest_capacity,
)
from controlplane.aws.pool_rules import (
    ATTRIBUTE_TAG_PREFIX,
    AdapterSettings,
    PoolRules,
    rules_with_overrides,
)
from controlplane.aws.replies import ObservedGroup, ObservedInstance, TemplateRef, parse_group
from controlplane.aws.spot_prices import SpotPrices
from controlplane.errors import describe
from controlplane.model import LIFECYCLE, Group, Pool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AwsObservation:
    """What one pass saw: snapshot pools and the groups behind them, by group name."""

    now: datetime
    pools: tuple[Pool, ...]
    groups: Mapping[str, ObservedGroup]
    #: Group name -> why it was left out (malformed reply or tags): reported, not acted on.
    skipped: Mapping[str, str] = field(default_factory=dict)

    def launching(self, registered: Collection[str]) -> dict[str, list[ObservedInstance]]:
        """Per group, instances present but not (yet) registered as Mesos agents."""
        out: dict[str, list[ObservedInstance]] = {}
        for name, group in sorted(self.groups.items()):
            waiting = [
                i for i in group.instances if not i.leaving and i.instance_id not in registered
            ]
            if waiting:
                out[name] = waiting
        return out


class AwsObserver:
    """Observes the cluster's groups; owns the discovery and instance-type caches."""

    def __init__(
        self,
        caller: AwsCaller,
        autoscaling: BotoClient,
        ec2: BotoClient,
        settings: AdapterSettings,
        rng: random.Random,
    ) -> None:
        self._caller = caller
        self._autoscaling = autoscaling
        self._settings = settings
        self.directory = GroupDirectory(caller, autoscaling, settings, rng)
        self._templates = LaunchTemplateTypes(
            caller, ec2, settings.template_ttl_s, settings.cache_jitter, rng
        )
        self._types = InstanceTypeCatalog(caller, ec2)
        self._spot = SpotPrices(caller, ec2, settings.template_ttl_s)

    def observe(
        self,
        ledger: CapacityLedger,
        now: datetime,
        described: Sequence[Mapping[str, Any]] | None = None,
    ) -> AwsObservation:
        """Pools and groups as they are now; back-offs in `ledger` become unavailable_until.
        `described`: the groups' raw entries as `directory.describe(now)` just read them.

        A group whose reply or tags cannot be read is left out and reported in `skipped`
        (with its whole pool when the pool cannot be built), so one bad tag does not stop
        every pool's pass; nothing is ever done to a skipped group."""
        groups: list[ObservedGroup] = []
        skipped: dict[str, str] = {}
        for raw in self.directory.describe(now) if described is None else described:
            try:
                groups.append(parse_group(raw))
            except BadAwsReplyError as error:
                skipped[str(raw.get("AutoScalingGroupName", "?"))] = str(error)
        refs = {g.template for g in groups if g.template is not None and not g.launch_types}
        template_types = self._templates.lookup(refs, now) if refs else {}
        group_types = {g.name: _instance_types(g, template_types) for g in groups}
        infos = self._types.lookup({t for types in group_types.values() for t in types})
        pools: list[Pool] = []
        kept: dict[str, ObservedGroup] = {}
        rules: dict[str, PoolRules] = {}
        for g in groups:
            try:
                rules[g.name] = rules_with_overrides(
                    self._settings.rules_for(g.pool), g.tags, f"group {g.name}"
                )
            except BadAwsReplyError as error:
                skipped[g.name] = str(error)
        readable = [g for g in groups if g.name in rules]
        for name, family, members in _planner_pools(readable, group_types):
            try:
                pool = self._pool(name, members, group_types, infos, rules, ledger, now)
            except BadAwsReplyError as error:
                skipped.update({g.name: str(error) for g in members})
                continue
            pools.append(pool.model_copy(update={"family": family}) if family else pool)
            kept.update({g.name: g if g.pool == name else replace(g, pool=name) for g in members})
        for name, why in sorted(skipped.items()):
            log.error("group %s left out of this pass: %s", name, why)
        return AwsObservation(now=now, pools=tuple(pools), groups=kept, skipped=skipped)

    def scaling_failures(self, ledger: CapacityLedger) -> dict[str, str]:
        """Failed launch activities of groups with a pending raise (one call per such group).

        Only raised groups are asked, so a quiet fleet makes no DescribeScalingActivities call.
        """
        out: dict[str, str] = {}
        for asg, pending in sorted(ledger.raises.items()):
            reply = self._caller.read(
                self._autoscaling,
                "DescribeScalingActivities",
                AutoScalingGroupName=asg,
                MaxRecords=20,
            )
            failure = activity_failure(reply.get("Activities", []), pending.raised_at)
            if failure is not None:
                out[asg] = failure
        return out

    def _pool(
        self,
        name: str,
        members: list[ObservedGroup],
        group_types: Mapping[str, tuple[str, ...]],
        infos: Mapping[str, InstanceTypeInfo],
        rules: Mapping[str, PoolRules],
        ledger: CapacityLedger,
        now: datetime,
    ) -> Pool:
        types = group_types[members[0].name]
        distinct = {rules[g.name].model_dump_json() for g in members}
        if len(distinct) > 1:
            raise BadAwsReplyError(f"pool {name}: its groups' controlplane:* rule tags disagree")
        attributes = _attributes(name, members)
        rule: PoolRules = rules[members[0].name]
        price = rule.hourly_price
        if attributes.get(LIFECYCLE) == "spot":  # AWS's price, else the configured
            spot = self._spot.hourly(types, {g.zone for g in members}, now)
            price = price if spot is None else round(spot, 6)
        try:
            return Pool(
                name=name,
                instance_type="|".join(types),
                capacity=smallest_capacity(infos[t].capacity(rule) for t in types),
                hourly_price=price,
                min_idle=rule.min_idle,
                max_idle=rule.max_idle,
                idle_grace_s=rule.idle_grace_s,
                scale_up_cooldown_s=rule.scale_up_cooldown_s,
                scale_down_cooldown_s=rule.scale_down_cooldown_s,
                fitness=rule.fitness,
                max_drains_per_pass=rule.max_drains_per_pass,
                max_drain_share=rule.max_drain_share,
                scarce=list(rule.scarce),
                shares_scarce=rule.shares_scarce,
                consolidate=rule.consolidate,
                consolidate_below=rule.consolidate_below,
                max_cordon_share=rule.max_cordon_share,
                relocate_after_s=rule.relocate_after_s,
                max_relocations_per_hour=rule.max_relocations_per_hour,
                idle_grace_boots=rule.idle_grace_boots,
                queue_for_room_s=rule.queue_for_room_s,
                spot_by_default=rule.spot_by_default,
                attributes=attributes,
                groups=[
                    Group(
                        asg=g.name,
                        zone=g.zone,
                        min=g.min,
                        max=g.max,
                        desired=g.desired,
                        unavailable_until=ledger.unavailable_until(g.name, now),
                    )
                    for g in members
                ],
            )
        except ValidationError as error:
            raise BadAwsReplyError(f"pool {name}: {describe(error)}") from error


def _planner_pools(
    groups: list[ObservedGroup], group_types: Mapping[str, tuple[str, ...]]
) -> list[tuple[str, str | None, list[ObservedGroup]]]:
    """(planner pool, family, its groups by zone) for every pool tag.

    A pool whose groups launch different instance types (say `m5.large` groups and
    `m5.4xlarge` groups) becomes one planner pool per type, `<pool>/<types>`, with the pool
    as their family: the planner opens the cheapest type that fits first (`hourly_price`)."""
    out: list[tuple[str, str | None, list[ObservedGroup]]] = []
    for pool in sorted({g.pool for g in groups}):
        members = sorted((g for g in groups if g.pool == pool), key=lambda g: (g.zone, g.name))
        choices = sorted({group_types[g.name] for g in members})
        if len(choices) == 1:
            out.append((pool, None, members))
            continue
        for types in choices:
            part = [g for g in members if group_types[g.name] == types]
            out.append((f"{pool}/{'+'.join(types)}", pool, part))
    return out


def _instance_types(
    group: ObservedGroup, template_types: Mapping[TemplateRef, str]
) -> tuple[str, ...]:
    """The types a new instance of the group may have: the overrides, else the template's."""
    if group.launch_types:
        return group.launch_types
    if group.template is None:  # parse_group refuses such groups; kept for the type checker
        raise BadAwsReplyError(f"group {group.name}: names no launch template")
    return (template_types[group.template],)


def _attributes(pool: str, members: list[ObservedGroup]) -> dict[str, str | int | float]:
    """What every new instance of the pool advertises: the groups' attribute tags, and
    `lifecycle` where all of them buy one kind (`purchase.py`)."""
    found: dict[str, str] = {}
    kinds = {g.purchase.new_instance_lifecycle for g in members}
    if len(kinds) == 1 and None not in kinds:
        found[LIFECYCLE] = str(kinds.pop())
    for group in members:
        for key, value in group.tags.items():
            if not key.startswith(ATTRIBUTE_TAG_PREFIX):
                continue
            attr = key.removeprefix(ATTRIBUTE_TAG_PREFIX)
            if attr == LIFECYCLE:
                raise BadAwsReplyError(
                    f"pool {pool}: tag {key}: lifecycle is read from the groups' purchase "
                    "options, not set by a tag"
                )
            if attr in found and found[attr] != value:
                raise BadAwsReplyError(
                    f"pool {pool}: tag {key} is {found[attr]!r} on one group, {value!r} on another"
                )
            found[attr] = value
    return dict(sorted(found.items()))
