"""How a group buys its instances: on-demand, Spot, or a mix (a MixedInstancesPolicy's
InstancesDistribution), and what that promises about a new instance.

Agents advertise `lifecycle:spot` or `lifecycle:on-demand` (the agent's user data reads it
from instance metadata), so tasks can require or refuse Spot with an attribute constraint.
A new instance promises a lifecycle only when its group buys one kind: all on-demand (no
distribution, or 100% on-demand above the base) or all Spot (no on-demand base, 0%
on-demand above it). A mixed group promises none: a task that requires one lifecycle waits
for an agent that has it rather than opening an instance that may not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from controlplane.aws.errors import BadAwsReplyError

Lifecycle = Literal["spot", "on-demand"]
STRATEGIES = frozenset(
    {
        "lowest-price",
        "capacity-optimized",
        "capacity-optimized-prioritized",
        "price-capacity-optimized",
    }
)


@dataclass(frozen=True)
class Purchase:
    """A group's InstancesDistribution (defaults: all on-demand)."""

    on_demand_base: int = 0
    on_demand_above_base_pct: int = 100
    spot_strategy: str | None = None
    capacity_rebalance: bool = False

    @property
    def uses_spot(self) -> bool:
        return self.on_demand_above_base_pct < 100

    @property
    def new_instance_lifecycle(self) -> Lifecycle | None:
        """What every new instance is; None for a mix."""
        if not self.uses_spot:
            return "on-demand"
        if self.on_demand_base == 0 and self.on_demand_above_base_pct == 0:
            return "spot"
        return None


def parse_purchase(raw: Mapping[str, Any], where: str) -> Purchase:
    """The group's purchase option from its DescribeAutoScalingGroups entry."""
    rebalance = raw.get("CapacityRebalance", False)
    if not isinstance(rebalance, bool):
        raise BadAwsReplyError(f"{where}: CapacityRebalance is {rebalance!r}, not a boolean")
    mixed = raw.get("MixedInstancesPolicy")
    dist = mixed.get("InstancesDistribution") if isinstance(mixed, Mapping) else None
    if dist is None:
        return Purchase(capacity_rebalance=rebalance)
    if not isinstance(dist, Mapping):
        raise BadAwsReplyError(f"{where}: InstancesDistribution is not an object")
    base = _number(dist, "OnDemandBaseCapacity", 0, 10**6, where)
    pct = _number(dist, "OnDemandPercentageAboveBaseCapacity", 100, 100, where)
    strategy = dist.get("SpotAllocationStrategy")
    if strategy is not None and strategy not in STRATEGIES:
        raise BadAwsReplyError(
            f"{where}: SpotAllocationStrategy {strategy!r} is not one of {sorted(STRATEGIES)}"
        )
    return Purchase(base, pct, strategy, rebalance)


def _number(dist: Mapping[str, Any], field: str, default: int, most: int, where: str) -> int:
    value = dist.get(field, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise BadAwsReplyError(
            f"{where}: InstancesDistribution.{field} is {value!r}, not a whole number 0-{most}"
        )
    return value
