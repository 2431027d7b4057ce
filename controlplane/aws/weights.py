"""Weighted groups: AWS counts desired capacity in units, the planner counts instances.

A MixedInstancesPolicy may give each instance type a WeightedCapacity. Then MinSize,
MaxSize and DesiredCapacity are units, and AWS launches instances (of the type it picks)
until the units present reach desired. The planner plans whole instances of the pool's
smallest shape, so the adapter translates at its edge, always on the side of what is sure
to arrive (docs/decisions.md, "Mixed-instance groups"):

- an instance whose weight the reply does not give counts as the heaviest type;
- desired, in instances, is those present plus the fewest AWS can still bring for the
  units not yet present: ceil((desired - present units) / heaviest);
- k instances more is `present units + k * heaviest` units: whichever types AWS picks,
  at least k instances arrive, each at least the smallest shape;
- max and min, in instances, are the furthest the group can move (raising desired, or
  terminating instances with decrement) without crossing MaxSize or MinSize in units.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GroupUnits:
    """A weighted group's sizes as AWS reports them (units) and its present instances."""

    min: int
    max: int
    desired: int
    #: Instances present (not leaving), and the units they count for.
    present: int
    present_units: int
    #: The largest WeightedCapacity of the group's instance types.
    heaviest: int

    def __post_init__(self) -> None:
        if self.heaviest < 1 or self.present < 0 or self.present_units < self.present:
            raise ValueError(f"inconsistent group units {self}")

    def _more(self, units: int) -> int:
        """Whole instances AWS is sure to launch for `units` more than present, at least."""
        return max(0, -(-units // self.heaviest))

    @property
    def desired_instances(self) -> int:
        return self.present + self._more(self.desired - self.present_units)

    @property
    def max_instances(self) -> int:
        room = max(0, (self.max - self.present_units) // self.heaviest)
        return max(self.desired_instances, self.present + room)

    @property
    def min_instances(self) -> int:
        """Each termination with decrement takes its instance's weight off desired: count
        every one as the heaviest, so desired never goes below MinSize."""
        removable = max(0, (self.desired - self.min) // self.heaviest)
        return max(0, self.desired_instances - removable)

    def units_for(self, instances: int) -> int:
        """DesiredCapacity (units) that brings the group to at least `instances` instances.

        Only a target at or above the instances present can be said in units (below that,
        AWS would choose which instance to terminate); the value stays within min and max.
        """
        if instances < self.present:
            raise ValueError(
                f"{instances} instances is fewer than the {self.present} present; "
                "terminate chosen instances instead"
            )
        units = self.present_units + (instances - self.present) * self.heaviest
        return min(max(units, self.min), self.max)
