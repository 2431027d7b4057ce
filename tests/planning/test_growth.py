"""Opening many instances at once gives exactly the one-at-a-time zone choice."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from controlplane.model import Group, Pool
from controlplane.planning.growth import GroupState, PoolGrowth

ZONE_NAMES = ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d")


@st.composite
def pool_growths(draw: st.DrawFn) -> PoolGrowth:
    zones = draw(st.lists(st.sampled_from(ZONE_NAMES), min_size=1, max_size=4, unique=True))
    groups = {}
    for zone in zones:
        desired = draw(st.integers(0, 30))
        maximum = desired + draw(st.integers(0, 30))
        group = Group(asg=f"g-{zone}", zone=zone, min=0, max=maximum, desired=desired)
        groups[zone] = GroupState(
            group=group,
            registered=draw(st.integers(0, desired)),
            available=draw(st.booleans()),
            new=draw(st.integers(0, maximum - desired)),
        )
    pool = Pool(
        name="p",
        instance_type="m",
        capacity={"cpus": 1.0},
        groups=[s.group for s in groups.values()],
    )
    return PoolGrowth(pool, groups, None, None)


@given(pool_growths(), st.integers(0, 200))
def test_open_balanced_equals_opening_one_by_one(growth: PoolGrowth, count: int) -> None:
    before = {z: s.new for z, s in growth.groups.items()}
    one_by_one: dict[str, int] = {}
    for _ in range(count):
        zone = growth.choose_zone(growth.openable())
        if zone is None:
            break
        growth.open(zone)
        one_by_one[zone] = one_by_one.get(zone, 0) + 1
    after = {z: s.new for z, s in growth.groups.items()}
    for zone, state in growth.groups.items():
        state.new = before[zone]
    assert growth.open_balanced(count) == one_by_one
    assert {z: s.new for z, s in growth.groups.items()} == after
