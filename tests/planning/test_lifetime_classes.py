"""New instances per lifetime class: a burst's short tasks get instances of their own when
that saves instance-hours, so those instances empty together and leave; otherwise (or with
no durations known) the shortfall is packed by size alone, as before."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from controlplane.planning.helpers.lifetimes import lifetime_class, pack_by_lifetime
from tests.support.builders import pool, run, task

ZONES = ("us-east-1a",)


def _burst(long_s: float | None, short_s: float | None) -> list[dict[str, Any]]:
    """Two long 7-cpu and two short 9-cpu tasks (16 cpus an instance): by size alone, two
    instances that each hold one of each (9 + 9 and 7 + 7 + 9 do not fit)."""
    return [task(f"long{i}", cpus=7, expected_duration_s=long_s) for i in range(2)] + [
        task(f"short{i}", cpus=9, expected_duration_s=short_s) for i in range(2)
    ]


def _instances(pending: list[dict[str, Any]]) -> dict[str, set[str]]:
    result = run([pool(zones=ZONES, boot_s=120)], pending=pending)
    out: dict[str, set[str]] = defaultdict(set)
    for p in result.placements:
        out[p.target].add(p.task.rstrip("0123456789"))
    return dict(out)


def test_short_and_long_tasks_get_instances_of_their_own_when_that_saves_hours() -> None:
    # Together: 2 instances, each kept an hour by a long task. Apart: the long tasks on
    # one (an hour), the short ones on two that leave after 3 minutes.
    apart = _instances(_burst(3600, 180))
    assert len(apart) == 3
    assert sorted(map(sorted, apart.values())) == [["long"], ["short"], ["short"]]


def test_without_durations_or_a_saving_the_shortfall_is_packed_by_size() -> None:
    assert len(_instances(_burst(None, None))) == 2
    assert len(_instances(_burst(900, 600))) == 2  # one lifetime class: nothing to split
    # Apart: (120 + 400) + 2 x (120 + 180) s; together 2 x (120 + 400) s is cheaper.
    assert len(_instances(_burst(400, 180))) == 2


def test_lifetime_classes_are_factor_four_buckets_from_a_minute() -> None:
    assert [lifetime_class(d) for d in (None, 5, 239, 240, 959, 960, 10**6)] == [
        -1,
        0,
        0,
        1,
        1,
        2,
        7,
    ]


@given(
    st.lists(
        st.tuples(
            st.floats(0.01, 1.0),
            st.floats(0.01, 1.0),
            st.one_of(st.none(), st.floats(1, 20_000)),
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([None, 0.0, 120.0]),
)
def test_every_item_lands_once_no_bin_overflows_and_the_kept_packing_is_no_dearer(
    items: list[tuple[float, float, float | None]], boot: float | None
) -> None:
    sizes = np.array([[a, b] for a, b, _ in items])
    durations = [d for _, _, d in items]
    bins = pack_by_lifetime(sizes, durations, boot)
    assert sorted(i for b in bins.members for i in b) == list(range(len(items)))
    for b in bins.members:
        assert np.all(sizes[b].sum(axis=0) <= 1 + 1e-9)
    known = [d for d in durations if d is not None]
    if known:
        life = np.array([max(known) if d is None else d for d in durations])
        joint = pack_by_lifetime(sizes, [None] * len(items), boot)
        cost = sum((boot or 0) + life[b].max() for b in bins.members)
        joint_cost = sum((boot or 0) + life[b].max() for b in joint.members)
        assert cost <= joint_cost + 1e-6
