"""The idle buffer: top a pool up to `min_idle`, drain idle agents above `max_idle`.

Scale-down is the dangerous direction, so every condition is a reason to hold: an agent
goes only if it runs and uses nothing, receives nothing in this plan, has been idle for the
pool's grace period, sits in a group above its minimum, and the pool is outside its
cooldowns and not growing in this very plan. Removals come from the pool's largest zone first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from controlplane.model import Agent, Hold, Pool, ScaleDown, Snapshot
from controlplane.numbers import num
from controlplane.planning.floor import floor_text, pool_size
from controlplane.planning.growth import PoolGrowth, timestamp
from controlplane.planning.table import HYPOTHETICAL, CandidateTable


@dataclass
class IdleOutcome:
    scale_down: list[ScaleDown] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    #: (pool, zone) -> new instances added only to keep min_idle.
    buffer_new: dict[tuple[str, str], int] = field(default_factory=dict)
    #: pool -> idle count after placement, before this phase.
    idle: dict[str, int] = field(default_factory=dict)


def _scale_down_cooldown(snapshot: Snapshot, pool_name: str, seconds: float) -> str | None:
    """Why the pool may not scale down now (a recent scale-up or scale-down), or None."""
    hist = snapshot.history.get(pool_name)
    if hist is None:
        return None
    for what, stamp in (("scale-down", hist.last_scale_down), ("scale-up", hist.last_scale_up)):
        if stamp is not None and snapshot.now < stamp + timedelta(seconds=seconds):
            until = stamp + timedelta(seconds=seconds)
            return (
                f"scale-down cooldown until {timestamp(until)} (last {what} {timestamp(stamp)}, "
                f"cooldown {num(seconds)}s)"
            )
    return None


def idle_phase(snapshot: Snapshot, table: CandidateTable, growth: list[PoolGrowth]) -> IdleOutcome:
    """Apply min_idle and max_idle to every pool after placement."""
    out = IdleOutcome()
    n_agents = len(table.agents)
    idle_rows = table.usable[:n_agents] & (table.running[:n_agents] == 0)
    idle_rows &= ~table.busy[:n_agents] & (table.placed[:n_agents] == 0)
    n = table.n
    for pi, g in enumerate(growth):
        pool = g.pool
        rows = np.flatnonzero(idle_rows & (table.pool_idx[:n_agents] == pi))
        idle_agents = [table.agents[r] for r in rows.tolist()]
        empty = int(
            (
                (table.tier[:n] == HYPOTHETICAL)
                & (table.pool_idx[:n] == pi)
                & (table.placed[:n] == 0)
            ).sum()
        )
        empty += sum(state.unrowed for state in g.groups.values())
        idle = len(idle_agents) + empty
        out.idle[pool.name] = idle
        if idle < pool.min_idle:
            _top_up(g, idle, out)
        elif idle > pool.max_idle:
            _drain_excess(snapshot, g, idle, idle_agents, out)
    return out


def _top_up(g: PoolGrowth, idle: int, out: IdleOutcome) -> None:
    pool = g.pool
    need = pool.min_idle - idle
    opened = g.open_balanced(need)
    for zone, count in opened.items():
        key = (pool.name, zone)
        out.buffer_new[key] = out.buffer_new.get(key, 0) + count
    added = sum(opened.values())
    if added < need:
        out.holds.append(
            Hold(
                pool=pool.name,
                reason=f"idle buffer: pool has {idle} idle, min_idle {pool.min_idle}; "
                f"added {added} of {need}: {g.blocked()}",
            )
        )


def _drain_cap(pool: Pool, size: int) -> int:
    """Drains the pool may start in one plan (a bug or a bad picture cannot empty it)."""
    cap = pool.max_drains_per_pass if pool.max_drains_per_pass is not None else size
    if pool.max_drain_share is not None:
        cap = min(cap, max(1, int(pool.max_drain_share * size)))
    return cap


def _cap_text(pool: Pool, size: int, cap: int) -> str:
    parts = []
    if pool.max_drains_per_pass is not None:
        parts.append(f"max_drains_per_pass {pool.max_drains_per_pass}")
    if pool.max_drain_share is not None:
        parts.append(f"max_drain_share {num(pool.max_drain_share)} of {size} instances")
    return f"at most {cap} drains per pass ({', '.join(parts)})"


def _grace_text(pool: Pool) -> str:
    if pool.grace_s == pool.idle_grace_s:
        return f"{num(pool.idle_grace_s)}s"
    return f"{num(round(pool.grace_s, 1))}s: {num(pool.idle_grace_boots or 0)} x boot"


def _idle_for(snapshot: Snapshot, agent: Agent) -> float | None:
    if agent.idle_since is None:
        return None
    return (snapshot.now - agent.idle_since).total_seconds()


def _drain_excess(
    snapshot: Snapshot, g: PoolGrowth, idle: int, idle_agents: list[Agent], out: IdleOutcome
) -> None:
    pool = g.pool
    excess = idle - pool.max_idle
    head = f"pool has {idle} idle, max_idle {pool.max_idle}"
    if any(s.new for s in g.groups.values()):
        out.holds.append(Hold(pool=pool.name, reason=f"{head}; no scale-down while growing"))
        return
    cooldown = _scale_down_cooldown(snapshot, pool.name, pool.scale_down_cooldown_s)
    if cooldown is not None:
        out.holds.append(Hold(pool=pool.name, reason=f"{head}; {cooldown}"))
        return
    candidates = _candidates(snapshot, pool, idle_agents)
    cap = _drain_cap(pool, pool_size(g))
    removed = _pick(snapshot, g, candidates, min(excess, cap), head, out)
    if removed < excess:
        why = _why_short(g, candidates, idle - len(idle_agents), removed, cap)
        out.holds.append(
            Hold(
                pool=pool.name,
                reason=f"{head}; drained {removed} of {excess}: {'; '.join(why) or 'no candidate'}",
            )
        )


@dataclass
class _Candidates:
    """A pool's idle agents: the drainable ones by zone (longest idle first), and counts
    of those that are not drainable and why."""

    by_zone: dict[str, list[Agent]] = field(default_factory=dict)
    young: int = 0
    unknown: int = 0
    unmanaged: int = 0
    marked: int = 0
    grace_s: float = 0.0


def _candidates(snapshot: Snapshot, pool: Pool, idle_agents: list[Agent]) -> _Candidates:
    c = _Candidates(grace_s=pool.grace_s)
    for agent in idle_agents:
        idle_s = _idle_for(snapshot, agent)
        if agent.do_not_disrupt:
            c.marked += 1
        elif agent.asg is None:
            c.unmanaged += 1
        elif idle_s is None:
            c.unknown += 1
        elif idle_s < c.grace_s:
            c.young += 1
        else:
            c.by_zone.setdefault(agent.zone, []).append(agent)
    for agents in c.by_zone.values():
        agents.sort(key=lambda a: (a.idle_since or snapshot.now, a.id))
    return c


def _pick(
    snapshot: Snapshot, g: PoolGrowth, c: _Candidates, wanted: int, head: str, out: IdleOutcome
) -> int:
    """Drain up to `wanted` agents, the largest zone first; how many were drained."""
    pool = g.pool
    by_zone = c.by_zone
    removed = 0
    floor = pool.floor.instances if pool.floor is not None else 0
    while removed < wanted and pool_size(g) > floor:
        zones = [
            z
            for z, agents in by_zone.items()
            if agents
            and not g.groups[z].shrinking
            and g.groups[z].size - 1 >= g.groups[z].group.min
        ]
        if not zones:
            break
        # Largest zone first; between equal zones, the one holding the longest-idle agent.
        zone = min(
            zones,
            key=lambda z: (-g.groups[z].size, by_zone[z][0].idle_since or snapshot.now, z),
        )
        agent = by_zone[zone].pop(0)
        state = g.groups[zone]
        idle_s = _idle_for(snapshot, agent)
        assert agent.asg is not None and idle_s is not None
        out.scale_down.append(
            ScaleDown(
                pool=pool.name,
                agent=agent.id,
                instance_id=agent.instance_id,
                asg=agent.asg,
                zone=zone,
                reason=f"idle {num(idle_s)}s (grace {_grace_text(pool)}); {head}; "
                f"{zone} is the largest zone with a drainable agent ({state.size} instances)",
            )
        )
        state.removed += 1
        removed += 1
    return removed


def _why_short(g: PoolGrowth, c: _Candidates, launching: int, removed: int, cap: int) -> list[str]:
    """Why fewer agents were drained than the pool has in excess."""
    pool = g.pool
    why = []
    if c.young:
        why.append(f"{c.young} idle less than {num(c.grace_s)}s")
    if c.unknown:
        why.append(f"{c.unknown} with no idle_since")
    if launching:
        why.append(f"{launching} launching, drainable once registered")
    if c.unmanaged:
        why.append(f"{c.unmanaged} in no group")
    if c.marked:
        why.append(f"{c.marked} marked do-not-disrupt")
    if removed == cap:
        why.append(_cap_text(pool, pool_size(g) + removed, cap))
    floor = pool.floor.instances if pool.floor is not None else 0
    if pool.floor is not None and pool_size(g) <= floor:
        why.append(f"{floor_text(g)} keeps the pool at {pool_size(g)}")
    left = sorted(z for z, a in c.by_zone.items() if a)
    for z in (z for z in left if g.groups[z].shrinking):
        state = g.groups[z]
        why.append(
            f"group {state.group.asg} in {z} is already shrinking ({state.registered} "
            f"registered, desired {state.group.desired}): no drain until they agree"
        )
    at_min = [z for z in left if not g.groups[z].shrinking]
    if at_min:
        why.append(f"groups at min in {', '.join(at_min)}")
    return why
