"""The placement pass's state, and the route for tasks placed one at a time.

Per task: a boolean mask of rows that may take it (resources and hard constraints), a score
for those rows (real agent before hypothetical instance, then soft constraints met, then
fitness), the best row wins with ties to the lower row. Where no row may take it, a new
instance is opened in the cheapest pool that can hold it, in that pool's smallest zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from controlplane.model import Hold, Placement, Snapshot, Task, Unplaced
from controlplane.planning.growth import PoolGrowth
from controlplane.planning.helpers.commits import Commits
from controlplane.planning.helpers.constraints import (
    RowFilter,
    balanced_allowed,
    kept_scarce,
    soft_score,
)
from controlplane.planning.helpers.explain import cannot_place
from controlplane.planning.helpers.fitness import RowFitness
from controlplane.planning.helpers.rowwise import row_min
from controlplane.planning.placement.balanced_fill import fill_balanced
from controlplane.planning.placement.ranked_fill import fill_ranked
from controlplane.planning.placement.shortfall import pack_shortfall
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

#: How much a task's fit with a row's expected life counts beside bin-packing fitness
#: (both in [0, 1]; a soft constraint met counts 2, a registered agent 1000).
LIFETIME_WEIGHT = 0.5


def expected_ends(table: CandidateTable, now_s: float) -> FloatArray:
    """Per agent row: when it is expected empty (epoch seconds); now when it is empty,
    NaN when unknown."""
    m = len(table.agents)
    out = np.full(m, np.nan)
    for row, agent in enumerate(table.agents):
        if agent.expected_empty_at is not None:
            out[row] = agent.expected_empty_at.timestamp()
        elif table.running[row] == 0 and not table.busy[row]:
            out[row] = now_s
    return out


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
    holds: list[Hold] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ends: FloatArray | None = None
        self.commits = Commits(self.table, self.growth, self.placements)
        self.fitness = RowFitness(self.table, self.weights, self.sign)
        self.pool_index = {p.name: i for i, p in enumerate(self.snapshot.pools)}
        self.rows_filter = RowFilter(self.table, self.growth)
        # Cheapest pool first when a new instance is needed; unknown prices last.
        self.pool_order = sorted(
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
            cap = self.capacity(gi)
            for zone in growth.zones():
                state = growth.groups[zone]
                if not state.available:
                    continue
                state.rows = min(state.launching, per_group)
                for i in range(state.rows):
                    slot = Slot(growth.pool.name, zone, i, launching=True)
                    attrs = instance_attributes(growth.pool, zone, i)
                    self.table.add_row(slot, gi, cap, cap.copy(), HYPOTHETICAL, 0, attrs)

    def capacity(self, pool_i: int) -> FloatArray:
        return vector(self.table.dims, self.snapshot.pools[pool_i].capacity)

    def named_pools(self, cls: TaskClass) -> list[int]:
        """Pools the class names (one, or a family's), else every pool; cheapest first."""
        if cls.pool is None:
            return self.pool_order
        if cls.pool in self.pool_index:
            return [self.pool_index[cls.pool]]
        return [pi for pi in self.pool_order if self.snapshot.pools[pi].named(cls.pool)]

    def eligible_pools(self, cls: TaskClass) -> list[int]:
        """Pools the class may use, cheapest first; a pool that keeps its scarce resources
        (gpus) for the tasks that ask for them is left out unless it shares its agents."""
        pools = self.named_pools(cls)
        return [
            pi
            for pi in pools
            if self.snapshot.pools[pi].shares_scarce
            or not kept_scarce(self.snapshot.pools[pi], self.table.dims, cls.demand)
        ]

    def scarce_note(self, cls: TaskClass) -> str | None:
        """Why the class has no pool at all, when scarce resources are the reason."""
        pools = self.named_pools(cls)
        kept = {
            self.snapshot.pools[pi].name: kept_scarce(
                self.snapshot.pools[pi], self.table.dims, cls.demand
            )
            for pi in pools
        }
        if not kept or not all(kept.values()):
            return None
        return "; ".join(
            f"pool {name} keeps its {', '.join(r)} for tasks that ask for them"
            for name, r in sorted(kept.items())
        )

    def place(
        self, cls: TaskClass, tasks: list[Task] | None = None, may_open: bool = True
    ) -> list[Task]:
        """Place the class's tasks (or record why not). Returns the tasks left waiting for a
        new instance when `may_open` is False (the shortfall packing then takes them)."""
        pools = self.eligible_pools(cls)
        queue = list(cls.tasks if tasks is None else tasks)
        note = None if pools else self.scarce_note(cls)
        if note is not None:
            self.unplaced.extend(Unplaced(task=t.id, reason=note) for t in queue)
            return []
        # True while no existing row can take another task of this class.
        full = False
        if cls.batchable or cls.one_per_row:
            queue, full = fill_ranked(self, cls, pools, queue)
        elif _replayable(cls):
            queue = fill_balanced(self, cls, pools, queue)
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
            self.commits.commit(cls, queue[:take], row, why)
            del queue[:take]
            full = full and (cls.one_per_row or self.room(cls, row, 1) == 0)
        return []

    def pack_shortfall(self, waiting: list[tuple[TaskClass, list[Task], int]]) -> None:
        """Put tasks that no existing row holds onto the fewest new instances (`shortfall`)."""
        pack_shortfall(self, waiting)

    def open_rows(self, pi: int, zones: list[str]) -> list[int]:
        """Open one new instance of pool `pi` per entry of `zones`, rows added in bulk."""
        growth = self.growth[pi]
        slots = [Slot(growth.pool.name, z, growth.open(z), launching=False) for z in zones]
        attrs = (
            [instance_attributes(growth.pool, s.zone, s.index) for s in slots]
            if self.table.attr_codes
            else None
        )
        return self.table.add_hypothetical_rows(slots, pi, self.capacity(pi), attrs)

    def ranked(
        self, cls: TaskClass, pools: list[int]
    ) -> tuple[IntArray, FloatArray, FloatArray, FloatArray] | None:
        """Rows that may take the class's next task, with score, fitness and soft points."""
        n = self.table.n
        if n == 0:
            return None
        mask = self.rows_filter.hard_mask(cls, pools)
        for attribute in cls.balanced:
            allowed = balanced_allowed(self.rows_filter, cls, pools, attribute, mask)
            mask &= np.isin(self.table.attr_codes[attribute][:n], allowed)
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return None
        t = self.table
        fit = self.fitness(rows, cls.demand)
        soft = soft_score(self.rows_filter, cls, rows) if cls.soft_count else np.zeros(len(rows))
        score = 1000.0 * t.tier[rows] + 2.0 * soft + fit
        if cls.expected_s is not None:
            score = score + LIFETIME_WEIGHT * self.lifetime(rows, cls.expected_s)
        return rows, score, fit, soft

    def lifetime(self, rows: IntArray, duration_s: float) -> FloatArray:
        """How little a task of `duration_s` extends each row's expected life, in [0, 1].

        1: the row is expected busy past the task's end anyway; 0: the task alone keeps it
        (an empty row, a new instance); in between, 1 - extension / duration; 0.5 for a row
        whose end is unknown. (Each row's end as the snapshot gave it, before this plan.)"""
        if self._ends is None:
            self._ends = expected_ends(self.table, self.snapshot.now.timestamp())
        now = self.snapshot.now.timestamp()
        ends = np.full(len(rows), now)  # new and launching instances: empty now
        real = rows < len(self._ends)
        ends[real] = self._ends[rows[real]]
        life = 1.0 - np.clip(now + duration_s - ends, 0.0, None) / duration_s
        return np.where(np.isnan(ends), 0.5, np.clip(life, 0.0, 1.0))

    def why(self, cls: TaskClass, row: int, fit: float, soft: float, rank: str) -> str:
        pool = self.table.pools[int(self.table.pool_idx[row])]
        why = f"{rank}: {pool.fitness} fitness {fit:.3f}"
        if cls.soft_count:
            why += f", soft constraints met {int(soft)}/{cls.soft_count}"
        return why

    def _best_row(self, cls: TaskClass, pools: list[int]) -> tuple[int, str] | None:
        """The best row that may take the class's next task, and why it won."""
        ranked = self.ranked(cls, pools)
        if ranked is None:
            return None
        rows, score, fit, soft = ranked
        best = int(np.argmax(score))
        row = int(rows[best])
        why = self.why(cls, row, fit[best], soft[best], f"best of {rows.size} candidates")
        return row, why

    def _open_new(self, cls: TaskClass, pools: list[int]) -> int | None:
        """Open a new instance for the class in the first pool and zone that allow it."""
        allowed: dict[str, set[int]] = {}
        if cls.balanced:
            mask = self.rows_filter.hard_mask(cls, pools)
            for attribute in cls.balanced:
                codes = balanced_allowed(self.rows_filter, cls, pools, attribute, mask)
                allowed[attribute] = set(codes.tolist())
        for pi in pools:
            zones = [
                z
                for z in self.rows_filter.new_instance_zones(cls, pi)
                if all(self.rows_filter.instance_code(pi, z, a) in ok for a, ok in allowed.items())
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
            return self.open_rows(pi, [zone])[0]
        return None

    def room_many(self, cls: TaskClass, rows: IntArray, limit: int) -> IntArray:
        """How many more tasks of the class each row holds (resources only), at most `limit`."""
        t = self.table
        need = cls.demand > 0
        if not need.any():
            return np.full(len(rows), limit, dtype=np.int64)
        free = t.free[rows][:, need] + EPS * np.maximum(t.total[rows][:, need], 1.0)
        room = np.floor(row_min(free / cls.demand[need]))
        out: IntArray = np.clip(room, 0, limit).astype(np.int64)
        return out

    def room(self, cls: TaskClass, row: int, limit: int) -> int:
        return int(self.room_many(cls, np.array([row], dtype=np.int64), limit)[0])

    def _batch_size(self, cls: TaskClass, row: int, waiting: int) -> int:
        """How many of the class's waiting tasks go on `row` at once (see TaskClass)."""
        if not cls.batchable or waiting == 1 or self.sign[self.table.pool_idx[row]] < 0:
            return 1
        return max(1, self.room(cls, row, waiting))


def _replayable(cls: TaskClass) -> bool:
    """Balanced over one attribute, and no soft constraint whose score placing changes."""
    return (
        len(cls.balanced) == 1
        and not cls.soft_balanced
        and not cls.soft_unique_host
        and not cls.soft_exclusive
    )
