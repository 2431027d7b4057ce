"""The scheduled floor: keep a pool at no fewer instances than a profile asks for.

A floor counts instances, not idle ones: it is what an operator sets ahead of a known peak
("weekdays 08:00-20:00 keep at least 10 in batch"). It is applied after placement and the
idle buffer, so instances opened for pending work or min_idle already count towards it, and
it is spread over zones like any other growth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controlplane.model import Hold
from controlplane.planning.growth import PoolGrowth


@dataclass
class FloorOutcome:
    #: (pool, zone) -> new instances added only to reach the floor.
    new: dict[tuple[str, str], int] = field(default_factory=dict)
    holds: list[Hold] = field(default_factory=list)


def pool_size(g: PoolGrowth) -> int:
    """Instances of the pool once the plan is carried out (desired + new - removed)."""
    return sum(state.size for state in g.groups.values())


def floor_text(g: PoolGrowth) -> str:
    floor = g.pool.floor
    assert floor is not None
    return f"scheduled floor {floor.instances} ({floor.source})"


def floor_phase(growth: list[PoolGrowth]) -> FloorOutcome:
    """Open instances, balanced over zones, in every pool below its floor."""
    out = FloorOutcome()
    for g in growth:
        floor = g.pool.floor
        if floor is None:
            continue
        size = pool_size(g)
        need = floor.instances - size
        if need <= 0:
            continue
        opened = g.open_balanced(need)
        for zone, count in opened.items():
            out.new[(g.pool.name, zone)] = count
        added = sum(opened.values())
        if added < need:
            out.holds.append(
                Hold(
                    pool=g.pool.name,
                    reason=f"{floor_text(g)}: pool has {size}; added {added} of {need}: "
                    f"{g.blocked()}",
                )
            )
    return out
