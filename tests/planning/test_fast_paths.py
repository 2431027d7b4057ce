"""Fast paths must give exactly the plan of the slow, one-task-at-a-time path."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given

from controlplane.formats.plan_text import plan_json
from controlplane.model import Snapshot
from controlplane.planning import plan
from controlplane.planning.placement import placer
from controlplane.planning.tasks import TaskClass
from tests.support.contract_replay import PROPERTY, VARIED

_ONE_PER_ROW = TaskClass.one_per_row
_REPLAYABLE = placer._replayable


def _decisions(snapshot: Snapshot) -> dict[str, Any]:
    """The plan without placement reasons (`rank K of N` vs `best of N` wording differs)."""
    data: dict[str, Any] = json.loads(plan_json(plan(snapshot)))
    for entry in data["placements"]:
        del entry["reason"]
    return data


@PROPERTY
@given(VARIED)
def test_one_per_row_fill_equals_one_task_at_a_time(snapshot: Snapshot) -> None:
    """Hard unique_host / exclusive classes ranked once, one task per row (section 4)."""
    fast = _decisions(snapshot)
    TaskClass.one_per_row = property(lambda self: False)  # type: ignore[assignment,method-assign]
    try:
        slow = _decisions(snapshot)
    finally:
        TaskClass.one_per_row = _ONE_PER_ROW  # type: ignore[method-assign]
    assert fast == slow


@PROPERTY
@given(VARIED)
def test_balanced_replay_equals_one_task_at_a_time(snapshot: Snapshot) -> None:
    """Classes balanced over one attribute, ranked once and replayed over per-value heaps."""
    fast = _decisions(snapshot)
    placer._replayable = lambda cls: False
    try:
        slow = _decisions(snapshot)
    finally:
        placer._replayable = _REPLAYABLE
    assert fast == slow
