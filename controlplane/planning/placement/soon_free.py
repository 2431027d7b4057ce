"""Duration-aware scale-up: a task waits for room about to free instead of buying it.

An instance opened now serves after its pool's `boot_s`. Room an existing agent will have
before then holds the task sooner and for nothing, so the task is left unplaced with where
and when it fits, and no instance is opened for it. A pool's `queue_for_room_s` stretches
that horizon: a task may wait that much longer than a boot for room on an agent it pays
nothing for, trading latency for the instance (and its boot and idle grace). Room frees
as running tasks end: each of an agent's `expected_releases` (and, whole, its
`expected_empty_at`) due within that horizon is a point in time at which the agent holds
its free room plus what has ended by then. A task takes the soonest point whose room, from
then on, holds it; what it takes is counted down at that point and every later one.

Only unconstrained tasks that no row holds now come here (the shortfall route); a release
whose time has passed is not waited for again, so a wrong estimate costs at most one
horizon of waiting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from controlplane.model import LIFECYCLE, Agent, Hold, Pool, Task, Unplaced
from controlplane.numbers import num
from controlplane.planning.table import EPS, CandidateTable, FloatArray, vector
from controlplane.planning.tasks import TaskClass


@dataclass
class SoonFree:
    """Room that frees on existing agents before a new instance of their pool could serve."""

    table: CandidateTable
    now_s: float
    #: Per point (flat, grouped by row, soonest first within a row): its row, seconds
    #: until it, the row's room from then on, and the row's span of points.
    rows: list[int] = field(default_factory=list)
    wait_s: list[float] = field(default_factory=list)
    span: list[tuple[int, int]] = field(default_factory=list)
    room: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    usable: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    slack: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    #: pool name -> (tasks held, the first one's story).
    held: dict[str, tuple[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = self.table
        if all(p.boot_s is None for p in t.pools):
            return  # nothing to wait for: no pool knows its boot time
        rooms: list[FloatArray] = []
        for row, agent in enumerate(t.agents):
            pool = t.pools[int(t.pool_idx[row])]
            horizon_s = pool.wait_horizon_s
            if horizon_s is None or not t.usable[row] or t.exclusive[row]:
                continue
            if _kept_spot(pool, agent):
                continue
            points = self._points(agent, horizon_s)
            if not points:
                continue
            start = len(self.rows)
            for wait, released in points:
                self.rows.append(row)
                self.wait_s.append(wait)
                rooms.append(t.free[row] + released)
            self.span.extend([(start, len(self.rows))] * len(points))
        if rooms:
            self.room = np.stack(rooms)
            self.slack = EPS * np.maximum(t.total[np.asarray(self.rows)], 1.0)
            self.usable = self.room.copy()
            for start, end in set(self.span):
                self._refresh(start, end)

    def _points(self, agent: Agent, horizon_s: float) -> list[tuple[float, FloatArray]]:
        """(seconds from now, room given back by then) at each release due within
        `horizon_s` (the boot time, plus what the pool lets a task wait beyond it)."""
        dims = self.table.dims
        points: list[tuple[float, FloatArray]] = []
        released = np.zeros(len(dims))
        for release in sorted(agent.expected_releases, key=lambda r: r.at):
            wait = release.at.timestamp() - self.now_s
            if wait < 0:
                continue  # overdue: still running, so its room is counted at no point
            if wait < horizon_s:
                released = released + vector(dims, release.resources)
                points.append((wait, released))
        if agent.expected_empty_at is not None:
            wait = agent.expected_empty_at.timestamp() - self.now_s
            if 0 <= wait < horizon_s and (not points or wait >= points[-1][0]):
                points.append((wait, vector(dims, agent.used)))
        return points

    def _refresh(self, start: int, end: int) -> None:
        """A point's usable room is the least room it or any later point of its row has."""
        self.usable[start:end] = np.minimum.accumulate(self.room[start:end][::-1], axis=0)[::-1]

    def absorb(
        self, cls: TaskClass, tasks: list[Task], pools: list[int], out: list[Unplaced]
    ) -> list[Task]:
        """Tasks of the class left needing a new instance; the others wait (in `out`)."""
        if not self.rows or not tasks:
            return tasks
        t = self.table
        mine = np.isin(t.pool_idx[np.asarray(self.rows)], pools)
        order = np.argsort(np.where(mine, np.asarray(self.wait_s), np.inf), kind="stable")
        order = order[mine[order]]
        for i, task in enumerate(tasks):
            fits = np.all(self.usable[order] + self.slack[order] >= cls.demand, axis=1)
            if not fits.any():
                return tasks[i:]  # room only shrinks: no later task of the class fits
            point = int(order[int(np.argmax(fits))])
            start, end = self.span[point]
            self.room[point:end] -= cls.demand
            self._refresh(start, end)
            row = self.rows[point]
            pool = t.pools[int(t.pool_idx[row])]
            story = (
                f"fits on {t.agents[row].id} in ~{num(round(self.wait_s[point]))}s, "
                f"a new {pool.instance_type} boots in ~{num(round(pool.boot_s or 0))}s"
            )
            if self.wait_s[point] >= (pool.boot_s or 0.0):
                story += f" (the pool waits up to {num(pool.queue_for_room_s)}s longer)"
            out.append(Unplaced(task=task.id, reason=f"waits: {story}"))
            count, first = self.held.get(pool.name, (0, story))
            self.held[pool.name] = (count + 1, first)
        return []

    def holds(self) -> list[Hold]:
        return [
            Hold(
                pool=pool,
                reason=f"{count} task{'s wait' if count != 1 else ' waits'} for room freeing on "
                f"agents instead of new instances ({first})",
            )
            for pool, (count, first) in sorted(self.held.items())
        ]


def _kept_spot(pool: Pool, agent: Agent) -> bool:
    """A Spot agent of a pool that keeps Spot for tasks that ask: the unconstrained tasks
    waiting here may not use it."""
    return not pool.spot_by_default and agent.attributes.get(LIFECYCLE) != "on-demand"
