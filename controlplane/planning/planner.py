"""Snapshot in, Plan out: the one entry point of the pure core.

No I/O, no clock (time is `snapshot.now`), no randomness: the same snapshot always gives the
same plan, which is what lets a user replay any pass of the daemon offline.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from controlplane.model import LIFECYCLE, Plan, ScaleUp, Snapshot, Summary, Uncordon
from controlplane.planning.bounds import lower_bound
from controlplane.planning.consolidate import consolidation_phase
from controlplane.planning.floor import FloorOutcome, floor_phase, floor_text
from controlplane.planning.gc_pause import cyclic_gc_paused
from controlplane.planning.growth import PoolGrowth, growth_state
from controlplane.planning.helpers.fitness import pool_weights
from controlplane.planning.helpers.rowwise import any_positive
from controlplane.planning.idle import IdleOutcome, idle_phase
from controlplane.planning.placement import Placer
from controlplane.planning.table import (
    CandidateTable,
    agent_columns,
    build_table,
    dimension_names,
)
from controlplane.planning.tasks import task_classes


def plan(snapshot: Snapshot) -> Plan:
    """Decide placements, scale-up and scale-down for one snapshot."""
    with cyclic_gc_paused():
        return _plan(snapshot)


def _plan(snapshot: Snapshot) -> Plan:
    # Pools in name order: the plan must not depend on the order the snapshot lists them.
    snapshot = snapshot.model_copy(update={"pools": sorted(snapshot.pools, key=lambda p: p.name)})
    first, wanting = _plan_once(snapshot, frozenset())
    back = {a.id for a in snapshot.agents if a.cordoned and a.pool in wanting}
    if not back:
        return first
    # Work waits in a pool that holds cordoned agents: plan again with them given back, so
    # their room is used before any new instance; only the ones that receive work go back.
    agents = [
        a.model_copy(update={"cordoned": False, "state": "active"}) if a.id in back else a
        for a in snapshot.agents
    ]
    second, _ = _plan_once(snapshot.model_copy(update={"agents": agents}), frozenset(wanting))
    taken = Counter(p.agent for p in second.placements if p.agent in back)
    if not taken:
        return first
    pool_of = {a.id: a.pool for a in snapshot.agents}
    uncordon = [
        Uncordon(
            pool=pool_of[agent],
            agent=agent,
            reason=f"pending work needs room: {count} task{'s' if count != 1 else ''} placed "
            "on it before any new instance",
        )
        for agent, count in sorted(taken.items())
    ]
    return second.model_copy(update={"uncordon": uncordon})


def _plan_once(snapshot: Snapshot, no_cordon: frozenset[str]) -> tuple[Plan, set[str]]:
    """One plan, and the pools where work waits for room (a shortfall or an unplaced task
    that fits one of their instances). `no_cordon`: pools that may not cordon in it."""
    view = agent_columns(snapshot)
    dims = {name: i for i, name in enumerate(dimension_names(snapshot, view))}
    classes = task_classes(snapshot, dims)
    attributes = {name for c in classes for name, _ in (*c.hard_attrs, *c.soft_attrs)}
    attributes.update(a for c in classes for a in c.job_attributes)
    if not all(p.spot_by_default for p in snapshot.pools):
        attributes.add(LIFECYCLE)  # kept off Spot unless asked: the rows' lifecycle counts
    jobs = {c.job for c in classes if c.job is not None}
    closing = {c.job for c in classes if c.unique_host and c.job is not None}
    growth = growth_state(snapshot)
    # A launching instance needs a row only if a task could land on it: at most one per task.
    per_group = len(snapshot.pending)
    launching = sum(min(s.launching, per_group) for g in growth for s in g.groups.values())
    table = build_table(
        snapshot, view, dims, attributes, jobs, launching + len(snapshot.pending), closing
    )
    weights, sign = pool_weights(snapshot.pools, dims)
    placer = Placer(snapshot, table, growth, weights, sign)
    placer.add_launching(per_group)
    # Unconstrained tasks that fit nowhere today wait, and are packed onto new instances
    # together: packing them as a whole saves instances that one-at-a-time opening wastes.
    waiting = []
    for cls in classes:
        left = placer.place(cls, may_open=not cls.plain)
        if left:
            waiting.append((cls, left, table.n))
    placer.pack_shortfall(waiting)
    idle = idle_phase(snapshot, table, growth)
    floor = floor_phase(growth)
    scale_up = _scale_up(growth, idle, floor)
    wanting = _wanting(snapshot, growth, placer)
    draining = {d.agent for d in idle.scale_down}
    cordons = consolidation_phase(snapshot, table, growth, wanting | no_cordon, draining)
    on_agents = sum(1 for p in placer.placements if p.agent is not None)
    summary = Summary(
        agents_needed=_agents_needed(table),
        lower_bound=lower_bound(snapshot, table),
        placed=len(placer.placements),
        placed_on_agents=on_agents,
        placed_on_new=len(placer.placements) - on_agents,
        unplaced=len(placer.unplaced),
        new_instances=sum(s.count for s in scale_up),
        scale_down=len(idle.scale_down),
    )
    plan = Plan(
        placements=placer.placements,
        unplaced=placer.unplaced,
        scale_up=scale_up,
        scale_down=idle.scale_down,
        holds=[*placer.holds, *idle.holds, *floor.holds, *cordons.holds],
        summary=summary,
        cordon=cordons.cordon,
    )
    return plan, wanting


def _wanting(snapshot: Snapshot, growth: list[PoolGrowth], placer: Placer) -> set[str]:
    """Pools where work waits for room: a shortfall opened instances there, or an unplaced
    task that one of its instances could hold may use it."""
    if not any(p.consolidate for p in snapshot.pools) and not any(
        a.cordoned for a in snapshot.agents
    ):
        return set()  # only consolidation asks, and nothing here consolidates
    out = {g.pool.name for g in growth if any(g.shortfall_tasks.values())}
    tasks = {t.id: t for t in snapshot.pending}
    for u in placer.unplaced:
        if len(out) == len(snapshot.pools):
            break
        task = tasks[u.task]
        for pool in snapshot.pools:
            if task.pool is not None and not pool.named(task.pool):
                continue
            if all(amount <= pool.capacity.get(r, 0.0) for r, amount in task.resources.items()):
                out.add(pool.name)
    return out


def _agents_needed(table: CandidateTable) -> int:
    """Instances that hold work (tasks, or used resources) once the plan is carried out."""
    n = table.n
    holds_work = (table.running[:n] > 0) | (table.placed[:n] > 0)
    holds_work |= any_positive(table.total[:n] - table.free[:n])
    return int(np.sum(holds_work))


def _scale_up(growth: list[PoolGrowth], idle: IdleOutcome, floor: FloorOutcome) -> list[ScaleUp]:
    out = []
    for g in sorted(growth, key=lambda g: g.pool.name):
        pool = g.pool
        for zone in g.zones():
            state = g.groups[zone]
            if not state.new:
                continue
            buffer = idle.buffer_new.get((pool.name, zone), 0)
            floored = floor.new.get((pool.name, zone), 0)
            shortfall = state.new - buffer - floored
            parts = []
            if shortfall:
                tasks = g.shortfall_tasks.get(zone, 0)
                parts.append(
                    f"shortfall: {tasks} task{'s need' if tasks != 1 else ' needs'} "
                    f"{shortfall} new {pool.instance_type}"
                )
            if buffer:
                parts.append(
                    f"idle buffer: pool has {idle.idle[pool.name]} idle, min_idle "
                    f"{pool.min_idle}: {buffer} new {pool.instance_type}"
                )
            if floored:
                parts.append(f"{floor_text(g)}: {floored} new {pool.instance_type}")
            out.append(
                ScaleUp(
                    pool=pool.name,
                    asg=state.group.asg,
                    zone=zone,
                    count=state.new,
                    reason="; ".join(parts),
                )
            )
    return out
