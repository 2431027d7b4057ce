"""The registration deadline's decisions: never a registered or once-busy instance, never
before the deadline, never in a pool whose agents Mesos has forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from controlplane.aws.replies import ObservedGroup, ObservedInstance
from controlplane.control.registration import review_registrations
from controlplane.state.records import InstanceMemory

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
STATES = st.sampled_from(["InService", "Pending", "Terminating", "Terminating:Wait"])


@st.composite
def fleets(draw: st.DrawFn) -> tuple[dict[str, ObservedGroup], set[str], InstanceMemory]:
    groups: dict[str, ObservedGroup] = {}
    registered: set[str] = set()
    memory: dict[str, datetime] = {}
    before: set[str] = set()
    for g in range(draw(st.integers(1, 3))):
        n = draw(st.integers(0, 6))
        instances = []
        for i in range(n):
            iid = f"i-{g}-{i}"
            instances.append(
                ObservedInstance(iid, f"z{g}", draw(STATES), draw(st.booleans()), True)
            )
            if draw(st.booleans()):
                registered.add(iid)
            if draw(st.booleans()):
                before.add(iid)  # had an agent once
            elif draw(st.booleans()):
                memory[iid] = NOW - timedelta(seconds=draw(st.integers(0, 2000)))
        pool = draw(st.sampled_from(["a", "b"]))
        name = f"{pool}-z{g}"
        groups[name] = ObservedGroup(
            name,
            pool,
            f"z{g}",
            draw(st.integers(0, 2)),
            10,
            n,
            {},
            None,
            ("m5.large",),
            tuple(instances),
        )
    return groups, registered, InstanceMemory(memory, frozenset(before))


@given(fleets(), st.floats(0.05, 1.0), st.integers(0, 4))
def test_expiry_is_only_ever_of_long_unregistered_unprotected_instances(
    fleet: tuple[dict[str, ObservedGroup], set[str], InstanceMemory],
    share: float,
    ok: int,
) -> None:
    groups, registered, memory = fleet
    out = review_registrations(
        groups,
        registered,
        memory,
        NOW,
        deadline_s=900,
        max_unregistered_share=share,
        ok_unregistered=ok,
    )
    by_id = {i.instance_id: (g, i) for g in groups.values() for i in g.instances}
    for e in out.expired:
        group, inst = by_id[e.instance_id]
        assert e.instance_id not in registered and not inst.protected and not inst.leaving
        assert e.instance_id not in memory.registered  # a lost agent is never expired
        assert NOW - memory.unregistered[e.instance_id] >= timedelta(seconds=900)
        assert e.pool not in out.halted
        assert e.instance_id not in out.unregistered
    present = {i.instance_id for g in groups.values() for i in g.instances if not i.leaving}
    had = present & (registered | memory.registered)
    assert out.registered == had  # an agent once had is remembered while the instance lives
    waiting = present - had
    assert set(out.unregistered) == waiting - {e.instance_id for e in out.expired}
    for iid, since in out.unregistered.items():
        assert since == memory.unregistered.get(iid, NOW)  # the first sighting never moves
    for pool, why in out.halted.items():  # only lost agents halt, never booting ones
        assert out.lost[pool] > ok and "no longer listed by Mesos" in why
    # Decrements never take a group below its min.
    for name, group in groups.items():
        dropped = sum(1 for e in out.expired if e.asg == name and e.decrement)
        assert group.desired - dropped >= min(group.min, group.desired)
