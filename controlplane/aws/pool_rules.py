"""Pool scaling rules and adapter settings, from configuration with tag overrides.

Rules live in configuration (`[default_rules]`, `[pools.<name>]`); an Auto Scaling group
may override a rule with a tag so that operators can tune one pool without a redeploy.
Tag names are `controlplane:<rule>` (see `RULE_TAGS` and docs/aws-adapter.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from controlplane.aws.errors import BadAwsReplyError
from controlplane.fields import MAX_SECONDS
from controlplane.model import Fitness

#: Discovery tags: every managed group carries both.
CLUSTER_TAG = "controlplane:cluster"
POOL_TAG = "controlplane:pool"
#: Tags whose value becomes a pool attribute: `controlplane:attr:<name>=<value>`.
ATTRIBUTE_TAG_PREFIX = "controlplane:attr:"
#: Tags that set what one instance offers: `controlplane:capacity:<resource>=<amount>`.
CAPACITY_TAG_PREFIX = "controlplane:capacity:"


class PoolRules(BaseModel):
    """How one pool is sized and what one of its instances offers Mesos."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_idle: int = Field(default=0, ge=0)
    max_idle: int = Field(default=0, ge=0)
    idle_grace_s: float = Field(default=600.0, ge=0, allow_inf_nan=False)
    scale_up_cooldown_s: float = Field(default=60.0, ge=0, allow_inf_nan=False)
    scale_down_cooldown_s: float = Field(default=300.0, ge=0, allow_inf_nan=False)
    fitness: Fitness = "binpack"
    hourly_price: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    #: Memory the OS and the Mesos agent keep for themselves (MiB), not offered to tasks.
    mem_reserve_mib: float = Field(default=1024.0, ge=0, allow_inf_nan=False)
    #: Disk the agent offers (MiB); root volumes are not in instance type data.
    disk_mib: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    #: Drains one pass may start in the pool: a count, and optionally a share of its
    #: instances (at least one); None lifts a cap. A bad picture or a bug cannot empty a
    #: pool in one pass.
    max_drains_per_pass: int | None = Field(default=20, ge=0, le=1_000_000)
    max_drain_share: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False)
    #: Resources one instance offers, set or overriding the instance type's data (named
    #: scalars too: `{fpga = 1}`); a group tag `controlplane:capacity:<name>` wins over it.
    capacity: dict[str, Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]] = Field(
        default_factory=dict
    )
    #: Resources kept for the tasks that ask for them: a task asking for none never opens
    #: an instance of a pool that has one, and lands on its agents only with `shares_scarce`.
    scarce: list[str] = Field(default_factory=lambda: ["gpus"])
    shares_scarce: bool = False
    #: Consolidation: cordon busy agents using less than `consolidate_below` of every
    #: resource whose work fits on the rest of the pool, so they empty and leave; at most
    #: `max_cordon_share` of the pool at once (docs/decisions.md section 22).
    consolidate: bool = True
    consolidate_below: float = Field(default=0.5, gt=0, le=1, allow_inf_nan=False)
    max_cordon_share: float = Field(default=0.25, gt=0, le=1, allow_inf_nan=False)
    #: Relocation: a cordoned agent still busy this long after its cordon has its
    #: restartable tasks killed and run again on the rest of the pool, at most
    #: `max_relocations_per_hour` tasks an hour (docs/decisions.md section 24). None: never.
    relocate_after_s: float | None = Field(default=None, ge=0, le=MAX_SECONDS, allow_inf_nan=False)
    max_relocations_per_hour: int = Field(default=10, ge=0, le=100_000)
    #: The idle grace as a multiple of the pool's measured boot time, when shorter than
    #: `idle_grace_s` (1: the ski-rental break-even; docs/decisions.md section 25).
    idle_grace_boots: float | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False)
    #: A pending task may wait this much longer than a new instance takes to boot for room
    #: that frees on an existing agent, instead of buying an instance (latency for cost;
    #: docs/decisions.md section 23). 0: only room that frees before a boot.
    queue_for_room_s: float = Field(default=0.0, ge=0, le=MAX_SECONDS, allow_inf_nan=False)
    #: Tasks without a `lifecycle` constraint may run on Spot (docs/decisions.md section 27);
    #: false keeps the pool's Spot agents and instances for tasks that ask for them.
    spot_by_default: bool = True


#: Rule name -> tag that overrides it on a group.
RULE_TAGS: dict[str, str] = {
    name: f"controlplane:{name}"
    for name in (
        "min_idle",
        "max_idle",
        "idle_grace_s",
        "scale_up_cooldown_s",
        "scale_down_cooldown_s",
        "fitness",
        "hourly_price",
        "mem_reserve_mib",
        "disk_mib",
        "max_drains_per_pass",
        "max_drain_share",
        "consolidate",
        "consolidate_below",
        "max_cordon_share",
        "relocate_after_s",
        "max_relocations_per_hour",
        "idle_grace_boots",
        "queue_for_room_s",
        "spot_by_default",
    )
}


class AdapterTimings(BaseModel):
    """How often the adapter re-reads AWS, how long it waits for capacity, how it backs off.

    Shared by `AdapterSettings` and the `[aws]` section of the configuration, so each timing
    is declared once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Group discovery is cached this long, +- `cache_jitter` (a fraction) so that many
    #: control planes do not all re-discover in the same second.
    discovery_ttl_s: float = Field(default=300.0, gt=0, allow_inf_nan=False)
    template_ttl_s: float = Field(default=600.0, gt=0, allow_inf_nan=False)
    cache_jitter: float = Field(default=0.2, ge=0, lt=1)
    #: A raised group that has not delivered its instances by then has failed.
    launch_deadline_s: float = Field(default=600.0, gt=0, allow_inf_nan=False)
    #: First back-off of a failed zone; doubled per consecutive failure up to the max.
    backoff_s: float = Field(default=300.0, gt=0, allow_inf_nan=False)
    max_backoff_s: float = Field(default=3600.0, gt=0, allow_inf_nan=False)
    #: Name of the termination lifecycle hook the deployment puts on every group.
    termination_hook: str = Field(default="controlplane-drain", min_length=1)

    def timings(self) -> dict[str, object]:
        """These fields alone (what an `AdapterSettings` takes from a configuration)."""
        return self.model_dump(include=set(AdapterTimings.model_fields))


class AdapterSettings(AdapterTimings):
    """What the AWS adapter needs to know beyond the API: cluster, timings, pool rules."""

    cluster: str = Field(min_length=1)
    default_rules: PoolRules = Field(default_factory=PoolRules)
    pools: dict[str, PoolRules] = Field(default_factory=dict)

    def rules_for(self, pool: str) -> PoolRules:
        """The configured rules of a pool (the defaults when it has none of its own)."""
        return self.pools.get(pool, self.default_rules)


def rules_with_overrides(base: PoolRules, tags: Mapping[str, str], where: str) -> PoolRules:
    """`base` with every `controlplane:<rule>` and `controlplane:capacity:<resource>` tag
    applied; a bad value names its tag."""
    changes: dict[str, object] = {}
    for rule, tag in RULE_TAGS.items():
        if tag not in tags:
            continue
        text = tags[tag].strip()
        changes[rule] = _parse_rule(rule, tag, text, where)
    tagged = capacity_tags(tags, where)
    if tagged:
        changes["capacity"] = {**base.capacity, **tagged}
    if not changes:
        return base
    try:
        return PoolRules.model_validate({**base.model_dump(), **changes})
    except ValidationError as error:
        problem = error.errors(include_url=False)[0]
        rule = str(problem["loc"][0]) if problem["loc"] else "?"
        raise BadAwsReplyError(
            f"{where}: tag {RULE_TAGS.get(rule, rule)}={tags.get(RULE_TAGS.get(rule, ''), '')!r}"
            f" is invalid: {problem['msg']}"
        ) from error


def _parse_rule(rule: str, tag: str, text: str, where: str) -> object:
    if rule == "fitness":
        return text
    if rule in {"consolidate", "spot_by_default"}:
        if text.lower() not in {"true", "false"}:
            raise BadAwsReplyError(f"{where}: tag {tag}={text!r} is not true or false")
        return text.lower() == "true"
    nullable = {"hourly_price", "disk_mib", "max_drains_per_pass", "max_drain_share"}
    if rule in {*nullable, "relocate_after_s", "idle_grace_boots"} and (
        text.lower() in {"", "none"}
    ):
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadAwsReplyError(f"{where}: tag {tag}={text!r} is not a number") from None
    if not math.isfinite(value):
        raise BadAwsReplyError(f"{where}: tag {tag}={text!r} is not a finite number")
    if rule in {"min_idle", "max_idle", "max_drains_per_pass", "max_relocations_per_hour"}:
        if not value.is_integer():
            raise BadAwsReplyError(f"{where}: tag {tag}={text!r} is not a whole number")
        return int(value)
    return value


def capacity_tags(tags: Mapping[str, str], where: str) -> dict[str, float]:
    """`controlplane:capacity:<resource>=<amount>` tags as resources; a bad one names itself."""
    out: dict[str, float] = {}
    for key, text in sorted(tags.items()):
        if not key.startswith(CAPACITY_TAG_PREFIX):
            continue
        name = key.removeprefix(CAPACITY_TAG_PREFIX)
        try:
            value = float(text.strip())
        except ValueError:
            raise BadAwsReplyError(f"{where}: tag {key}={text!r} is not a number") from None
        if not name or not math.isfinite(value) or not 0 <= value <= 1e12:
            raise BadAwsReplyError(f"{where}: tag {key}={text!r} is not a resource amount")
        out[name] = value
    return out
