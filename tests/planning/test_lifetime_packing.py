"""Lifetime-aware packing: among agents that fit alike, a task goes where it does not extend
the agent's expected life (long work beside long work), and plans without durations are as
before."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controlplane.formats.plan_text import plan_json
from controlplane.model import Release, Snapshot
from controlplane.planning import plan
from tests.support.builders import agent, ago, pool, run, targets, task
from tests.support.contract_replay import PROPERTY, VARIED

ZONES = ("us-east-1a",)


def _busy(ident: str, empty_in_s: float | None) -> dict[str, Any]:
    extra = {} if empty_in_s is None else {"expected_empty_at": ago(-empty_in_s)}
    return agent(ident, used={"cpus": 8.0, "mem": 8000.0}, jobs={"j": 2}, idle_s=None, **extra)


def test_a_long_task_goes_to_the_agent_that_lives_long_anyway() -> None:
    agents = [_busy("A", 600), _busy("B", 5 * 3600)]
    result = run(
        [pool(zones=ZONES, desired=(2,))], agents, [task("t", cpus=2, expected_duration_s=7200)]
    )
    assert targets(result) == {"t": "B"}


def test_a_short_task_does_not_keep_an_emptying_agent_alive() -> None:
    agents = [_busy("A", 300), _busy("B", 5 * 3600)]
    result = run(
        [pool(zones=ZONES, desired=(2,))], agents, [task("t", cpus=2, expected_duration_s=900)]
    )
    assert targets(result) == {"t": "B"}  # on A it would keep A busy 600 s longer


def test_without_durations_the_fullest_first_rule_alone_decides() -> None:
    agents = [_busy("A", 600), _busy("B", 5 * 3600)]
    result = run([pool(zones=ZONES, desired=(2,))], agents, [task("t", cpus=2)])
    assert targets(result) == {"t": "A"}  # equally full: the lower row, as before


@PROPERTY
@given(VARIED, st.floats(0, 7200), st.sampled_from([60.0, 120.0]))
def test_duration_fields_change_nothing_until_tasks_carry_durations(
    snapshot: Snapshot, empty_in_s: float, boot_s: float
) -> None:
    """Agents' expected ends and releases alone, or pools' boot times alone, leave the plan
    as it was: only a task's expected duration (with them) changes a decision."""
    before = plan_json(plan(snapshot))
    at = snapshot.now + timedelta(seconds=empty_in_s)
    ends = [
        a.model_copy(
            update={
                "expected_empty_at": at,
                "expected_releases": [Release(at=at, resources=dict(a.used))] if a.used else [],
            }
        )
        for a in snapshot.agents
    ]
    assert plan_json(plan(snapshot.model_copy(update={"agents": ends}))) == before
    boots = [p.model_copy(update={"boot_s": boot_s}) for p in snapshot.pools]
    assert plan_json(plan(snapshot.model_copy(update={"pools": boots}))) == before
