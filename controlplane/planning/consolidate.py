"""Consolidation: cordon under-used agents whose work the rest of the pool can hold.

Idle agents drain by the idle rules; an agent that keeps a few long tasks never goes idle
while new work keeps landing beside them. Consolidation picks such agents and stops
placing on them (a cordon: Mesos deactivation keeps their tasks running), so they empty
as their tasks end and leave by the two-phase drain. Nothing is killed.

A candidate is active, in a group, not do-not-disrupt, running tasks, receiving nothing in
this plan, and uses less than `consolidate_below` of every resource. It is cordoned only
if its running work, as `tasks` copies of its average task (used / tasks), fits whole in
the room the pool's other active agents keep after this plan (fullest agent first), a
task of a hard unique_host job (`unique_host_jobs`) only on an agent without that job, one
per agent: the work has somewhere to go, and cordoning it cannot push pending work onto a
new instance. An agent running a hard exclusive task is never a candidate (its task could
only move to an empty agent, which saves nothing).

Never while the pool has work waiting (a shortfall in this plan, or an unplaced task that
fits one of its instances), never within `scale_down_cooldown_s` of a scale-up or of a plan
that gave cordoned agents back (the hysteresis that keeps a pool from cordoning what it
just gave back), at most `max_cordon_share` of the pool's instances cordoned at once (and
`max_drains_per_pass`, or 20, per plan), never below a scheduled floor. Emptiest first.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from controlplane.model import Cordon, Hold, Pool, Snapshot
from controlplane.numbers import num
from controlplane.planning.floor import pool_size
from controlplane.planning.growth import PoolGrowth, timestamp
from controlplane.planning.table import EPS, CandidateTable, FloatArray, IntArray


@dataclass
class ConsolidationOutcome:
    cordon: list[Cordon] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)


def consolidation_phase(
    snapshot: Snapshot,
    table: CandidateTable,
    growth: list[PoolGrowth],
    wanting: Collection[str],
    draining: Collection[str],
) -> ConsolidationOutcome:
    """Cordons for every pool that consolidates. `wanting`: pools with work waiting;
    `draining`: agents this plan drains (never a receiver of anyone's work)."""
    out = ConsolidationOutcome()
    m = len(table.agents)
    if m == 0 or not any(g.pool.consolidate for g in growth):
        return out
    used = table.total[:m] - table.free[:m]
    total = table.total[:m]
    share = np.max(np.divide(used, total, out=np.zeros_like(used), where=total > 0), axis=1)
    ids = [a.id for a in table.agents]
    gone = np.fromiter((i in draining for i in ids), np.bool_, count=m)
    for pi, g in enumerate(growth):
        pool = g.pool
        if not pool.consolidate:
            continue
        mine = table.pool_idx[:m] == pi
        cordoned = sum(1 for a, own in zip(table.agents, mine, strict=True) if own and a.cordoned)
        candidates = _candidates(table, mine, share, pool.consolidate_below)
        if candidates.size == 0:
            continue
        blocked = _blocked(snapshot, pool, wanting)
        if blocked is not None:
            out.holds.append(Hold(pool=pool.name, reason=f"no consolidation: {blocked}"))
            continue
        size = pool_size(g)
        room = max(1, int(pool.max_cordon_share * size)) - cordoned
        per_plan = pool.max_drains_per_pass
        room = min(room, MAX_CORDONS_PER_PLAN if per_plan is None else per_plan)
        if pool.floor is not None:  # what a cordon empties leaves: never below the floor
            room = min(room, size - cordoned - pool.floor.instances)
        if room <= 0:
            continue
        receivers = mine & table.usable[:m] & ~gone & ~table.exclusive[:m]
        free = table.free[:m] + EPS * np.maximum(table.total[:m], 1.0)
        _pick(table, pool, candidates, receivers, free, used, share, room, out)
    return out


#: Cordons one plan may start in a pool without `max_drains_per_pass` (as a drain cap).
MAX_CORDONS_PER_PLAN = 20
#: Candidates tried per cordon a plan may still start (and a few more): a pool of 10,000
#: agents with few fitting candidates must not try them all in every pass.
TRIES_PER_CORDON = 4
EXTRA_TRIES = 16


def _candidates(
    table: CandidateTable, mine: np.ndarray, share: FloatArray, below: float
) -> IntArray:
    """Rows that may be cordoned, emptiest first (then fewest tasks, then id order)."""
    m = len(table.agents)
    ok = mine & table.usable[:m] & (table.running[:m] > 0) & (table.placed[:m] == 0)
    ok &= share < below
    rows = np.flatnonzero(ok)
    keep = [r for r in rows.tolist() if table.agents[r].asg is not None]
    keep = [r for r in keep if not (table.agents[r].do_not_disrupt or table.agents[r].exclusive)]
    order = sorted(keep, key=lambda r: (float(share[r]), int(table.running[r]), r))
    return np.array(order, dtype=np.int64)


def _blocked(snapshot: Snapshot, pool: Pool, wanting: Collection[str]) -> str | None:
    """Why the pool may not cordon now, or None."""
    if pool.name in wanting:
        return "work is waiting for room in the pool"
    hist = snapshot.history.get(pool.name)
    if hist is None:
        return None
    wait = timedelta(seconds=pool.scale_down_cooldown_s)
    for what, stamp in (("scale-up", hist.last_scale_up), ("uncordon", hist.last_uncordon)):
        if stamp is not None and snapshot.now < stamp + wait:
            return f"{what} at {timestamp(stamp)}, cooldown {num(pool.scale_down_cooldown_s)}s"
    return None


def _pick(
    table: CandidateTable,
    pool: Pool,
    candidates: IntArray,
    receivers: np.ndarray,
    free: FloatArray,
    used: FloatArray,
    share: FloatArray,
    room: int,
    out: ConsolidationOutcome,
) -> None:
    free = free.copy()
    receivers = receivers.copy()
    # Fullest receiver first, as the plan left them (the order is fixed for the pass).
    rows = np.flatnonzero(receivers)
    total = np.maximum(table.total[rows], 1e-12)
    order = rows[np.lexsort((rows, np.max(free[rows] / total, axis=1)))]
    tries = TRIES_PER_CORDON * room + EXTRA_TRIES
    holding: dict[str, set[int]] = {}  # unique_host job -> receivers given one of its tasks
    for row in candidates.tolist()[:tries]:
        if room == 0:
            return
        receivers[row] = False
        tasks = int(table.running[row])
        unit = used[row] / tasks
        moves = _fit_agent(table, row, free, order[receivers[order]], unit, holding)
        if moves is None:
            receivers[row] = True  # stays, and may hold others' work
            continue
        for target, count in moves:
            free[target] -= count * unit
        agent = table.agents[row]
        assert agent.asg is not None
        out.cordon.append(
            Cordon(
                pool=pool.name,
                agent=agent.id,
                instance_id=agent.instance_id,
                asg=agent.asg,
                zone=agent.zone,
                reason=f"uses {num(100 * float(share[row]))}% at most (consolidate below "
                f"{num(100 * pool.consolidate_below)}%); its {tasks} task"
                f"{'s' if tasks != 1 else ''} fit on the pool's other agents: cordoned to "
                "empty as they end",
            )
        )
        room -= 1


def _fit_agent(
    table: CandidateTable,
    row: int,
    free: FloatArray,
    rows: IntArray,
    unit: FloatArray,
    holding: dict[str, set[int]],
) -> list[tuple[int, int]] | None:
    """Where the agent's running work goes on `rows` (copies of `unit`): a task of a hard
    unique_host job only to a row without the job, one per row; the rest anywhere. None if
    it does not all fit. `holding` learns the rows given a unique job's task."""
    agent = table.agents[row]
    tasks = int(table.running[row])
    if not agent.unique_host_jobs:
        return fit_copies(free, rows, unit, tasks)
    work = free.copy()
    moves: list[tuple[int, int]] = []
    taken: dict[str, list[int]] = {}
    for job in agent.unique_host_jobs:
        copies = agent.jobs.get(job, 0)
        open_rows = rows[_without_job(table, rows, job, holding.get(job, set()))]
        placed = fit_copies(work, open_rows, unit, copies, per_row=1)
        if placed is None or open_rows.size < copies:
            return None
        for target, count in placed:
            work[target] -= count * unit
        taken[job] = [target for target, _ in placed]
        moves.extend(placed)
        tasks -= copies
    rest = fit_copies(work, rows, unit, tasks)
    if rest is None:
        return None
    for job, targets in taken.items():
        holding.setdefault(job, set()).update(targets)
    return moves + rest


def _without_job(table: CandidateTable, rows: IntArray, job: str, holding: set[int]) -> np.ndarray:
    """Which of `rows` run no task of `job` and get none in this plan (or this pass)."""
    counts = table.job_counts.get(job)  # tracked when the job has pending work: placed too
    if counts is not None:
        ok = counts[rows] == 0
    else:
        ok = np.fromiter((job not in table.agents[r].jobs for r in rows.tolist()), np.bool_)
    if holding:
        ok &= ~np.isin(rows, list(holding))
    return np.asarray(ok, dtype=np.bool_)


def fit_copies(
    free: FloatArray, rows: IntArray, unit: FloatArray, copies: int, per_row: int | None = None
) -> list[tuple[int, int]] | None:
    """Where `copies` of `unit` go on `rows`, in their order, each copy whole on one row
    (at most `per_row` on one): (row, copies) pairs; None if not all fit."""
    need = unit > 0
    if copies <= 0 or not need.any():
        return []
    if rows.size == 0:
        return None
    fits = np.floor(np.min(free[rows][:, need] / unit[need], axis=1) + 1e-9).clip(0)
    if per_row is not None:
        fits = np.minimum(fits, per_row)
    taken = np.cumsum(fits)
    if taken[-1] < copies:
        return None
    last = int(np.searchsorted(taken, copies))
    out: list[tuple[int, int]] = []
    before = 0
    for i in range(last + 1):
        take = min(int(fits[i]), copies - before)
        if take:
            out.append((int(rows[i]), take))
        before += take
    return out
