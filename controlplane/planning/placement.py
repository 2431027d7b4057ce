"""Placement: put each pending task on the best row, opening new instances on shortfall.

Per task: a boolean mask of rows that may take it (resources and hard constraints), a score
for those rows (real agent before hypothetical instance, then soft constraints met, then
fitness), the best row wins with ties to the lower row. Where no row may take it, a new
instance is opened in the cheapest pool that can hold it, in that pool's smallest zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from controlplane.model import Placement, Snapshot, Task, Unplaced
from controlplane.planning.growth import PoolGrowth
from controlplane.planning.helpers.balanced import balanced_picks
from controlplane.planning.helpers.commits import Commits
from controlplane.planning.helpers.constraints import (
    RowFilter,
    balanced_allowed,
    job_counts_by_value,
    reachable_codes,
    soft_score,
)
from controlplane.planning.helpers.explain import cannot_place
from controlplane.planning.helpers.fitness import RowFitness
from controlplane.planning.helpers.packing import pack
from controlplane.planning.helpers.ranking import best_of
from controlplane.planning.helpers.rowwise import row_min
from controlplane.planning.table import (
    EPS,
    HYPOTHETICAL,
    CandidateTable,
    FloatArray,
    IntArray,
    Slot,
    instance_attributes,
    vector,
)
from controlplane.planning.tasks import TaskClass


@dataclass
class Placer:
    """Mutable placement state of one planning pass."""

    snapshot: Snapshot
    table: CandidateTable
    growth: list[PoolGrowth]
    weights: FloatArray
    sign: FloatArray
    placements: list[Placement] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._commits = Commits(self.table, self.growth, self.placements)
        self._fitness = RowFitness(self.table, self.weights, self.sign)
        self._pool_index = {p.name: i for i, p in enumerate(self.snapshot.pools)}
        self._rows = RowFilter(self.table, self.growth)
        # Cheapest pool first when a new instance is needed; unknown prices last.
        self._pool_order = sorted(
            range(len(self.snapshot.pools)),
            key=lambda i: (
                self.snapshot.pools[i].hourly_price is None,
                self.snapshot.pools[i].hourly_price or 0.0,
                self.snapshot.pools[i].name,
            ),
        )

    def add_launching(self, per_group: int) -> None:
        """Rows for instances launched but not registered, in zones that are available.

        At most `per_group` rows per group (the pending task count): more could never hold
        a task, and the rest count as empty launching capacity (`GroupState.unrowed`).
        """
        for gi, growth in enumerate(self.growth):
            cap = self._capacity(gi)
            for zone in growth.zones():
                state = growth.groups[zone]
                if not state.available:
                    continue
                state.rows = min(state.launching, per_group)
                for i in range(state.rows):
                    slot = Slot(growth.pool.name, zone, i, launching=True)
                    attrs = instance_attributes(growth.pool, zone, i)
                    self.table.add_row(slot, gi, cap, cap.copy(), HYPOTHETICAL, 0, attrs)

    def _capacity(self, pool_i: int) -> FloatArray:
        return vector(self.table.dims, self.snapshot.pools[pool_i].capacity)

    def _eligible_pools(self, cls: TaskClass) -> list[int]:
        if cls.pool is not None:
            return [self._pool_index[cls.pool]]
        return list(self._pool_order)

    def place(
        self, cls: TaskClass, tasks: list[Task] | None = None, may_open: bool = True
    ) -> list[Task]:
        """Place the class's tasks (or record why not). Returns the tasks left waiting for a
        new instance when `may_open` is False (the shortfall packing then takes them)."""
        pools = self._eligible_pools(cls)
        queue = list(cls.tasks if tasks is None else tasks)
        # True while no existing row can take another task of this class.
        full = False
        if cls.batchable or cls.one_per_row:
            queue, full = self._fill_ranked(cls, pools, queue)
        elif _replayable(cls):
            queue = self._fill_balanced(cls, pools, queue)
        while queue:
            best = None if full else self._best_row(cls, pools)
            if best is not None:
                row, why = best
            else:
                if not may_open:
                    return queue
                opened = self._open_new(cls, pools)
                if opened is None:
                    reason = cannot_place(self.snapshot, self.table, self.growth, cls, pools)
                    self.unplaced.extend(Unplaced(task=t.id, reason=reason) for t in queue)
                    return []
                row, why = opened, "no registered agent or launching instance may take it"
            take = self._batch_size(cls, row, len(queue))
            self._commits.commit(cls, queue[:take], row, why)
            del queue[:take]
            full = full and (cls.one_per_row or self._room(cls, row, 1) == 0)
        return []

    def pack_shortfall(self, waiting: list[tuple[TaskClass, list[Task], int]]) -> None:
        """Put tasks that no existing row holds onto the fewest new instances.

        Each entry carries the row count when its class waited: rows opened since (new
        instances for constrained tasks placed later) are tried first, so an instance this
        plan already opens is filled before another is opened.

        Only unconstrained tasks come here. Each goes to its cheapest pool that may grow;
        each pool's share is packed as a whole (`packing.pack`), then the bins are opened
        fullest first, each in the pool's then-smallest zone. Tasks of bins a pool cannot
        open (bounds reached) fall back to task-by-task placement, which explains them.
        """
        by_pool: dict[int, list[tuple[TaskClass, Task]]] = {}
        for cls, queued, rows_then in waiting:
            tasks = queued if self.table.n == rows_then else self.place(cls, queued, False)
            if not tasks:
                continue
            target = next(
                (pi for pi in self._eligible_pools(cls) if self._rows.new_instance_zones(cls, pi)),
                None,
            )
            if target is None:
                self.place(cls, tasks)  # records why nothing can hold them
                continue
            by_pool.setdefault(target, []).extend((cls, t) for t in tasks)
        for pi in self._pool_order:
            items = by_pool.get(pi)
            if items:
                self._pack_pool(pi, items)

    def _pack_pool(self, pi: int, items: list[tuple[TaskClass, Task]]) -> None:
        cap = self._capacity(pi)
        scale = np.where(cap > 0, cap, 1.0)
        sizes = np.minimum(np.stack([cls.demand for cls, _ in items]) / scale, 1.0)
        result = pack(sizes)
        members: list[list[int]] = [[] for _ in range(result.count)]
        for i, b in enumerate(result.bin_of.tolist()):
            members[b].append(i)
        growth = self.growth[pi]
        zones = growth.zone_sequence(result.count)
        rows = self._open_rows(pi, zones)
        left: dict[int, tuple[TaskClass, list[Task]]] = {}
        whys: list[str] = []
        for b, bin_items in enumerate(members):
            if b >= len(rows):
                for i in bin_items:
                    cls, task = items[i]
                    left.setdefault(id(cls), (cls, []))[1].append(task)
                continue
            why = (
                f"shortfall packing: bin {b + 1} of {result.count} ({result.method}; "
                f"lower bound {result.lower_bound})"
            )
            whys.append(why)
        self._commits.commit_packed(items, members[: len(rows)], rows, whys)
        for cls, tasks in left.values():
            self.place(cls, tasks)

    def _open_rows(self, pi: int, zones: list[str]) -> list[int]:
        """Open one new instance of pool `pi` per entry of `zones`, rows added in bulk."""
        growth = self.growth[pi]
        slots = [Slot(growth.pool.name, z, growth.open(z), launching=False) for z in zones]
        attrs = (
            [instance_attributes(growth.pool, s.zone, s.index) for s in slots]
            if self.table.attr_codes
            else None
        )
        return self.table.add_hypothetical_rows(slots, pi, self._capacity(pi), attrs)

    def _ranked(
        self, cls: TaskClass, pools: list[int]
    ) -> tuple[IntArray, FloatArray, FloatArray, FloatArray] | None:
        """Rows that may take the class's next task, with score, fitness and soft points."""
        n = self.table.n
        if n == 0:
            return None
        mask = self._rows.hard_mask(cls, pools)
        for attribute in cls.balanced:
            allowed = balanced_allowed(self._rows, cls, pools, attribute, mask)
            mask &= np.isin(self.table.attr_codes[attribute][:n], allowed)
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return None
        t = self.table
        fit = self._fitness(rows, cls.demand)
        soft = soft_score(self._rows, cls, rows) if cls.soft_count else np.zeros(len(rows))
        score = 1000.0 * t.tier[rows] + 2.0 * soft + fit
        return rows, score, fit, soft

    def _why(self, cls: TaskClass, row: int, fit: float, soft: float, rank: str) -> str:
        pool = self.table.pools[int(self.table.pool_idx[row])]
        why = f"{rank}: {pool.fitness} fitness {fit:.3f}"
        if cls.soft_count:
            why += f", soft constraints met {int(soft)}/{cls.soft_count}"
        return why

    def _best_row(self, cls: TaskClass, pools: list[int]) -> tuple[int, str] | None:
        """The best row that may take the class's next task, and why it won."""
        ranked = self._ranked(cls, pools)
        if ranked is None:
            return None
        rows, score, fit, soft = ranked
        best = int(np.argmax(score))
        row = int(rows[best])
        why = self._why(cls, row, fit[best], soft[best], f"best of {rows.size} candidates")
        return row, why

    def _fill_ranked(
        self, cls: TaskClass, pools: list[int], queue: list[Task]
    ) -> tuple[list[Task], bool]:
        """Fill existing rows best-first, each to capacity, in one vector pass.

        For a batchable class on bin-packing pools this is exactly the one-task-at-a-time
        result: placing on the best row only raises its own score, so it stays best until
        full, and the other rows keep their scores and order. Returns the tasks left and
        whether every existing row is now full for the class. A `one_per_row` class gives
        each row at most one task: the row it lands on is closed to the class, the others
        keep their scores, so this too is the one-task-at-a-time result.
        """
        ranked = self._ranked(cls, pools)
        if ranked is None:
            return queue, True
        rows, score, fit, soft = ranked
        if not cls.one_per_row and np.any(self.sign[self.table.pool_idx[rows]] < 0):
            return queue, False  # spread lowers the chosen row's score: go task by task
        limit = 1 if cls.one_per_row else len(queue)
        # Each candidate fits one task: the best len(queue) rows hold the whole queue.
        order = best_of(np.arange(rows.size), score, len(queue))
        room = self._room_many(cls, rows[order], limit)
        if room.sum() < len(queue) and order.size < rows.size:  # room 0 at a float edge
            order = np.lexsort((rows, -score))
            room = self._room_many(cls, rows[order], limit)
        last = int(np.searchsorted(np.cumsum(room), len(queue)))
        placed = 0
        for rank, k in enumerate(order[: last + 1].tolist()):
            row = int(rows[k])
            take = min(int(room[rank]), len(queue) - placed)
            why = self._why(cls, row, fit[k], soft[k], f"rank {rank + 1} of {rows.size} candidates")
            self._commits.commit(cls, queue[placed : placed + take], row, why)
            placed += take
        return queue[placed:], placed < len(queue)

    def _fill_balanced(self, cls: TaskClass, pools: list[int], queue: list[Task]) -> list[Task]:
        """Place a balanced class on existing rows from one ranking (`balanced.py`); the
        tasks left need a new instance (or cannot be placed), as one at a time would find."""
        t = self.table
        rows = np.flatnonzero(self._rows.hard_mask(cls, pools))
        if rows.size == 0 or np.any(self.sign[t.pool_idx[rows]] < 0):
            return queue
        assert cls.job is not None
        (attribute,) = cls.balanced
        reachable = reachable_codes(self._rows, cls, pools, attribute)
        counts = job_counts_by_value(t, cls.job, attribute)
        soft = soft_score(self._rows, cls, rows) if cls.soft_count else np.zeros(len(rows))

        def scores(pos: IntArray) -> tuple[FloatArray, FloatArray]:
            r = rows[pos]
            fit = self._fitness(r, cls.demand)
            return 1000.0 * t.tier[r] + 2.0 * soft[pos] + fit, fit

        everyone = np.arange(len(rows))
        score, _ = scores(everyone)
        limit = 1 if cls.unique_host or cls.exclusive else len(queue)

        def room_of(pos: IntArray) -> IntArray:
            return self._room_many(cls, rows[pos], limit)

        values = t.attr_codes[attribute][rows]

        def rescore(pos: int) -> float:
            return float(scores(np.array([pos]))[0][0])

        placed = 0
        for pos, candidates in balanced_picks(
            values, score, room_of, counts, reachable, len(queue), rescore
        ):
            row = int(rows[pos])
            fit = float(scores(np.array([pos]))[1][0])
            why = self._why(cls, row, fit, soft[pos], f"best of {candidates} candidates")
            self._commits.commit(cls, queue[placed : placed + 1], row, why)
            placed += 1
        return queue[placed:]

    def _open_new(self, cls: TaskClass, pools: list[int]) -> int | None:
        """Open a new instance for the class in the first pool and zone that allow it."""
        allowed: dict[str, set[int]] = {}
        if cls.balanced:
            mask = self._rows.hard_mask(cls, pools)
            for attribute in cls.balanced:
                codes = balanced_allowed(self._rows, cls, pools, attribute, mask)
                allowed[attribute] = set(codes.tolist())
        for pi in pools:
            zones = [
                z
                for z in self._rows.new_instance_zones(cls, pi)
                if all(self._rows.instance_code(pi, z, a) in ok for a, ok in allowed.items())
            ]
            growth = self.growth[pi]
            prefs = {
                z: sum(
                    instance_attributes(growth.pool, z).get(name) == value
                    for name, value in cls.soft_attrs
                )
                for z in zones
            }
            zone = growth.choose_zone(zones, prefs)
            if zone is None:
                continue
            return self._open_rows(pi, [zone])[0]
        return None

    def _room_many(self, cls: TaskClass, rows: IntArray, limit: int) -> IntArray:
        """How many more tasks of the class each row holds (resources only), at most `limit`."""
        t = self.table
        need = cls.demand > 0
        if not need.any():
            return np.full(len(rows), limit, dtype=np.int64)
        free = t.free[rows][:, need] + EPS * np.maximum(t.total[rows][:, need], 1.0)
        room = np.floor(row_min(free / cls.demand[need]))
        out: IntArray = np.clip(room, 0, limit).astype(np.int64)
        return out

    def _room(self, cls: TaskClass, row: int, limit: int) -> int:
        return int(self._room_many(cls, np.array([row], dtype=np.int64), limit)[0])

    def _batch_size(self, cls: TaskClass, row: int, waiting: int) -> int:
        """How many of the class's waiting tasks go on `row` at once (see TaskClass)."""
        if not cls.batchable or waiting == 1 or self.sign[self.table.pool_idx[row]] < 0:
            return 1
        return max(1, self._room(cls, row, waiting))


def _replayable(cls: TaskClass) -> bool:
    """Balanced over one attribute, and no soft constraint whose score placing changes."""
    return (
        len(cls.balanced) == 1
        and not cls.soft_balanced
        and not cls.soft_unique_host
        and not cls.soft_exclusive
    )
