"""Hard `balanced` holds over every value the pools span: a zone that cannot take more still
counts, so the job's counts stay within one and the rest waits, named; soft `balanced`
keeps water-filling into the zones that can."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given

from controlplane.model import BalancedConstraint, Snapshot
from controlplane.planning import plan
from tests.support.builders import agent, pool, run, task
from tests.support.contract_replay import PROPERTY, VARIED, keeps_scarce

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def _world(soft: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
    """Zone c: one agent with room for two tasks, its group at max; a and b may grow."""
    pools = [pool(zones=ZONES, desired=(0, 0, 1), max_size=1)]
    pools[0]["groups"][0]["max"] = pools[0]["groups"][1]["max"] = 10
    agents = [agent("C", zone="us-east-1c", used={"cpus": 8.0}, jobs={"other": 1}, idle_s=None)]
    spread = [{"kind": "balanced", "attribute": "zone", "soft": soft}]
    pending = [task(f"t{i}", cpus=4, job="J", constraints=spread) for i in range(9)]
    return pools, agents, pending


def _zones(result: Any) -> Counter[str]:
    return Counter(p.new.zone if p.new else "us-east-1c" for p in result.placements)


def test_a_full_zone_still_counts_and_the_rest_waits_named() -> None:
    result = run(*_world())
    assert _zones(result) == {"us-east-1a": 3, "us-east-1b": 3, "us-east-1c": 2}
    assert len(result.unplaced) == 1
    assert "hard balanced: the next task must go to zone us-east-1c (2 tasks of job J)" in (
        result.unplaced[0].reason
    )


def test_soft_balance_fills_the_zones_that_can_grow() -> None:
    result = run(*_world(soft=True))
    assert sum(_zones(result).values()) == 9 and result.unplaced == []


@PROPERTY
@given(VARIED)
def test_hard_balance_keeps_every_job_within_one_over_the_values_spanned(
    snapshot: Snapshot,
) -> None:
    """Each placement of a hard-balanced (zone) task goes to a zone holding no more of its
    job's tasks than the least-loaded zone its pools span, so a job placed from an even
    start ends within one."""
    result = plan(snapshot)
    pools = {p.name: p for p in snapshot.pools}
    agents = {a.id: a for a in snapshot.agents}
    tasks = {t.id: t for t in snapshot.pending}
    counts: dict[str, Counter[str]] = {}
    for a in snapshot.agents:
        for job, n in a.jobs.items():
            counts.setdefault(job, Counter())[a.zone] += n
    for p in result.placements:
        task = tasks[p.task]
        zone = p.new.zone if p.new is not None else agents[p.agent or ""].zone
        job = task.job_name
        mine = counts.setdefault(job, Counter())
        hard = [
            c
            for c in task.constraints
            if isinstance(c, BalancedConstraint) and c.attribute == "zone" and not c.soft
        ]
        if hard and len([c for c in task.constraints if isinstance(c, BalancedConstraint)]) == 1:
            named = [pools[task.pool]] if task.pool in pools else list(pools.values())
            # A pool that keeps its GPUs from the task (and shares no agents) is none of its
            # pools: its zones are not the task's to balance over.
            named = [pl for pl in named if pl.shares_scarce or not keeps_scarce(pl, task)]
            span = {g.zone for pl in named for g in pl.groups}
            span |= {a.zone for a in snapshot.agents if a.pool in {pl.name for pl in named}}
            assert mine[zone] <= min(mine[z] for z in span), (task.id, zone, dict(mine))
        mine[zone] += 1
