"""The scheduled floor: pools are raised to it, balanced, and never drained below it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from controlplane.model import Floor, Snapshot
from controlplane.planning import plan
from tests.support.builders import agent, pool, run
from tests.support.contract_replay import PROPERTY, VARIED

BUSINESS = {"instances": 7, "source": "profile business-hours"}


def test_a_pool_below_its_floor_grows_balanced_with_the_floor_as_reason() -> None:
    result = run([pool(desired=(1, 0, 0), floor=BUSINESS)], [agent("A-1", jobs={"x": 1})])
    counts = {s.zone: s.count for s in result.scale_up}
    assert sum(counts.values()) == 6
    sizes = [1 + counts.get("us-east-1a", 0), counts.get("us-east-1b", 0)]
    sizes.append(counts.get("us-east-1c", 0))
    assert max(sizes) - min(sizes) <= 1
    for up in result.scale_up:
        assert "scheduled floor 7 (profile business-hours)" in up.reason
        assert "shortfall" not in up.reason


def test_idle_agents_above_max_idle_are_kept_to_hold_the_floor() -> None:
    agents = [agent(f"{z}-{i}", zone=f"us-east-1{z}") for z in "abc" for i in range(3)]
    floor = {"instances": 7, "source": "profile nightly-batch"}
    result = run([pool(desired=(3, 3, 3), floor=floor)], agents)
    assert len(result.scale_down) == 2
    assert result.scale_up == []
    hold = next(h for h in result.holds if h.pool == "batch")
    assert "scheduled floor 7 (profile nightly-batch) keeps the pool at 7" in hold.reason


def test_a_met_floor_changes_nothing() -> None:
    agents = [agent(f"{z}-1", zone=f"us-east-1{z}", jobs={"x": 1}) for z in "abc"]
    with_floor = run([pool(desired=(1, 1, 1), floor={"instances": 3, "source": "p"})], agents)
    without = run([pool(desired=(1, 1, 1))], agents)
    assert with_floor == without


def test_a_floor_above_max_is_capped_and_the_hold_says_so() -> None:
    result = run([pool(desired=(0, 0, 0), max_size=2, floor={"instances": 9, "source": "p"})])
    assert sum(s.count for s in result.scale_up) == 6
    hold = next(h for h in result.holds if "scheduled floor 9" in h.reason)
    assert "added 6 of 9" in hold.reason and "at max 2" in hold.reason


def test_a_floor_is_contract_input_checked_like_the_rest() -> None:
    with pytest.raises(ValidationError, match="instances"):
        run([pool(floor={"instances": -1, "source": "p"})])
    with pytest.raises(ValidationError, match="extra"):
        run([pool(floor={"instances": 1, "source": "p", "until": "x"})])


@st.composite
def floored(draw: st.DrawFn) -> Snapshot:
    snapshot = draw(VARIED)
    pools = []
    for p in snapshot.pools:
        size = sum(g.desired for g in p.groups)
        if draw(st.booleans()):
            instances = draw(st.integers(min_value=0, max_value=size + 6))
            floor = Floor(instances=instances, source="profile x")
            pools.append(p.model_copy(update={"floor": floor}))
        else:
            pools.append(p)
    return snapshot.model_copy(update={"pools": pools})


@PROPERTY
@given(floored())
def test_drains_never_take_a_pool_below_its_floor_and_a_missed_floor_is_explained(
    snapshot: Snapshot,
) -> None:
    result = plan(snapshot)
    for p in snapshot.pools:
        if p.floor is None:
            continue
        before = sum(g.desired for g in p.groups)
        added = sum(s.count for s in result.scale_up if s.pool == p.name)
        drained = sum(1 for d in result.scale_down if d.pool == p.name)
        after = before + added - drained
        if drained:
            assert after >= p.floor.instances, f"pool {p.name} drained to {after} < floor"
        if after < p.floor.instances:
            reasons = [h.reason for h in result.holds if h.pool == p.name]
            assert any("scheduled floor" in r for r in reasons), reasons
        if added and after > p.floor.instances:
            # Growth past the floor must have another reason (pending work, min_idle).
            ups = [s.reason for s in result.scale_up if s.pool == p.name]
            assert any("shortfall" in r or "idle buffer" in r for r in ups), ups
