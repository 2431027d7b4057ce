"""Properties of consolidation over generated snapshots (every pool consolidating):

- it never cordons work that has nowhere to go: the cordoned agents' running work (as
  copies of each one's average task) fits in the room the pool's other active agents keep
  after the plan, in total per resource and copy by copy;
  a task of a hard unique_host job only on an agent without the job, one per agent;
- it never cordons an agent that is do-not-disrupt, runs an exclusive task, receives work,
  is idle or is drained; an agent running an exclusive task takes none of its work;
- no flapping: carrying a plan's cordons out and planning again on the same demand gives
  none of those agents back.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from random import Random

from hypothesis import given
from hypothesis import strategies as st

from controlplane.model import Agent, Plan, Snapshot
from controlplane.planning import plan
from tests.support.contract_replay import PROPERTY, TOL, VARIED, running
from tests.support.strategies import snapshots


def _consolidating(snapshot: Snapshot, below: float, share: float, cordons: bool) -> Snapshot:
    """Every pool consolidating; with `cordons`, busy draining agents are cordoned ones."""
    pools = [
        p.model_copy(
            update={"consolidate": True, "consolidate_below": below, "max_cordon_share": share}
        )
        for p in snapshot.pools
    ]
    agents = [
        a.model_copy(update={"cordoned": True})
        if cordons and a.state == "draining" and running(a) > 0 and a.asg is not None
        else a
        for a in snapshot.agents
    ]
    return snapshot.model_copy(update={"pools": pools, "agents": agents})


def _constrained(snapshot: Snapshot, rng: Random, share: float) -> Snapshot:
    """About `share` of the busy agents run a hard unique_host job (some of their jobs)
    or, half as often, a hard exclusive task."""
    agents = []
    for a in snapshot.agents:
        draw = rng.random()
        update: dict[str, object] = {}
        if a.jobs and draw < share:
            jobs = sorted(a.jobs)
            update["unique_host_jobs"] = sorted(rng.sample(jobs, rng.randint(1, len(jobs))))
        elif running(a) > 0 and draw < 1.5 * share:
            update["exclusive"] = True
        agents.append(a.model_copy(update=update))
    return snapshot.model_copy(update={"agents": agents})


SNAPSHOTS = st.builds(
    _consolidating,
    st.builds(
        _constrained,
        st.one_of(VARIED, snapshots(busy=True), snapshots(busy=True, calm=True)),
        st.randoms(use_true_random=False),
        st.sampled_from([0.0, 0.0, 0.3, 0.7]),
    ),
    st.sampled_from([0.3, 0.5, 0.9, 1.0]),
    st.sampled_from([0.1, 0.25, 1.0]),
    st.booleans(),
)


def _room_after(snapshot: Snapshot, result: Plan) -> dict[str, dict[str, float]]:
    """Free resources of every agent once the plan's placements are made."""
    demand = {t.id: t.resources for t in snapshot.pending}
    room = {
        a.id: {r: a.total.get(r, 0.0) - a.used.get(r, 0.0) for r in a.total}
        for a in snapshot.agents
    }
    for p in result.placements:
        if p.agent is not None:
            for r, amount in demand[p.task].items():
                room[p.agent][r] = room[p.agent].get(r, 0.0) - amount
    return room


def _unit(agent: Agent) -> dict[str, float]:
    tasks = running(agent)
    return {r: v / tasks for r, v in agent.used.items() if v > 0}


@PROPERTY
@given(SNAPSHOTS)
def test_consolidation_never_cordons_work_that_has_nowhere_to_go(snapshot: Snapshot) -> None:
    result = plan(snapshot)
    agents = {a.id: a for a in snapshot.agents}
    cordoned = {c.agent for c in result.cordon}
    receiving = {p.agent for p in result.placements if p.agent is not None}
    draining = {d.agent for d in result.scale_down}
    room = _room_after(snapshot, result)
    moved: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    given_unique: dict[str, int] = defaultdict(int)  # unique job -> cordoned agents with it
    for c in result.cordon:
        a = agents[c.agent]
        assert a.state == "active" and not a.cordoned and not a.do_not_disrupt
        assert not a.exclusive  # its task could only go to an empty agent
        assert a.asg is not None and running(a) > 0 and c.agent not in receiving
        pool = next(p for p in snapshot.pools if p.name == a.pool)
        assert pool.consolidate
        for r, v in a.used.items():
            moved[a.pool][r] += v
        others = [
            b
            for b in snapshot.agents
            if b.pool == a.pool
            and b.state == "active"
            and not b.exclusive
            and b.id not in cordoned | draining
        ]
        unit = _unit(a)

        def fits(b: Agent, unit: dict[str, float] = unit) -> bool:
            return all(
                v <= room[b.id].get(r, 0.0) + TOL * max(b.total.get(r, 0.0), 1.0)
                for r, v in unit.items()
            )

        # Copy by copy: each of its tasks fits on some agent that stays.
        assert any(fits(b) for b in others) or not unit, c
        for job in a.unique_host_jobs:  # one per host: only on agents without the job
            given_unique[job] += a.jobs[job]
            open_agents = [b for b in others if job not in b.jobs and fits(b)]
            assert len(open_agents) >= given_unique[job], (c, job)
    for pool_name, work in moved.items():  # and in total, per resource
        stay = [
            b
            for b in snapshot.agents
            if b.pool == pool_name and b.state == "active" and b.id not in cordoned | draining
        ]
        for r, v in work.items():
            free = sum(max(room[b.id].get(r, 0.0), 0.0) for b in stay)
            assert v <= free + TOL * max(1.0, free) + 1e-6, (pool_name, r)


@PROPERTY
@given(SNAPSHOTS)
def test_carried_out_cordons_are_not_given_back_on_the_same_demand(snapshot: Snapshot) -> None:
    result = plan(snapshot)
    if not result.cordon:
        return
    cordoned = {c.agent for c in result.cordon}
    agents = [
        a.model_copy(update={"state": "draining", "cordoned": True}) if a.id in cordoned else a
        for a in snapshot.agents
    ]
    later = snapshot.model_copy(
        update={"agents": agents, "now": snapshot.now + timedelta(seconds=60)}
    )
    again = plan(later)
    assert not cordoned & {u.agent for u in again.uncordon}


@PROPERTY
@given(SNAPSHOTS)
def test_agents_given_back_take_work_and_their_pool_cordons_nothing(snapshot: Snapshot) -> None:
    result = plan(snapshot)
    agents = {a.id: a for a in snapshot.agents}
    receiving = {p.agent for p in result.placements if p.agent is not None}
    for u in result.uncordon:
        assert agents[u.agent].cordoned and u.agent in receiving
        assert not any(c.pool == u.pool for c in result.cordon)
