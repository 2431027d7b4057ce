"""Route 4: unconstrained tasks no existing row holds are packed onto the fewest new
instances, pool by pool (`helpers/packing.py`), per lifetime class where that is cheaper
(`helpers/lifetimes.py`), the bins opened fullest first."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from controlplane.model import Task
from controlplane.planning.helpers.lifetimes import pack_by_lifetime
from controlplane.planning.placement.soon_free import SoonFree
from controlplane.planning.tasks import TaskClass

if TYPE_CHECKING:
    from controlplane.planning.placement.placer import Placer


def pack_shortfall(p: Placer, waiting: list[tuple[TaskClass, list[Task], int]]) -> None:
    """Put tasks that no existing row holds onto the fewest new instances.

    Each entry carries the row count when its class waited: rows opened since (new
    instances for constrained tasks placed later) are tried first, so an instance this
    plan already opens is filled before another is opened.

    Only unconstrained tasks come here. A task an agent about to empty will hold before a
    new instance could serve waits for it instead (`soon_free.py`). Each other goes to its
    cheapest pool that may grow; each pool's share is packed as a whole (`packing.pack`),
    then the bins are opened fullest first, each in the pool's then-smallest zone. Tasks
    of bins a pool cannot open (bounds reached) fall back to task-by-task placement, which
    explains them.
    """
    by_pool: dict[int, list[tuple[TaskClass, Task]]] = {}
    soon = SoonFree(p.table, p.snapshot.now.timestamp()) if waiting else None
    for cls, queued, rows_then in waiting:
        tasks = queued if p.table.n == rows_then else p.place(cls, queued, False)
        if soon is not None:
            tasks = soon.absorb(cls, tasks, p.eligible_pools(cls), p.unplaced)
        if not tasks:
            continue
        target = next(
            (pi for pi in p.eligible_pools(cls) if p.rows_filter.new_instance_zones(cls, pi)),
            None,
        )
        if target is None:
            p.place(cls, tasks)  # records why nothing can hold them
            continue
        by_pool.setdefault(target, []).extend((cls, t) for t in tasks)
    for pi in p.pool_order:
        items = by_pool.get(pi)
        if items:
            _pack_pool(p, pi, items)
    if soon is not None:
        p.holds.extend(soon.holds())


def _pack_pool(p: Placer, pi: int, items: list[tuple[TaskClass, Task]]) -> None:
    cap = p.capacity(pi)
    scale = np.where(cap > 0, cap, 1.0)
    sizes = np.minimum(np.stack([cls.demand for cls, _ in items]) / scale, 1.0)
    bins = pack_by_lifetime(sizes, [cls.expected_s for cls, _ in items], p.table.pools[pi].boot_s)
    members, count = bins.members, len(bins.members)
    growth = p.growth[pi]
    zones = growth.zone_sequence(count)
    rows = p.open_rows(pi, zones)
    left: dict[int, tuple[TaskClass, list[Task]]] = {}
    whys: list[str] = []
    for b, bin_items in enumerate(members):
        if b >= len(rows):
            for i in bin_items:
                cls, task = items[i]
                left.setdefault(id(cls), (cls, []))[1].append(task)
            continue
        why = (
            f"shortfall packing: bin {b + 1} of {count} ({bins.method}; "
            f"lower bound {bins.lower_bound})"
        )
        whys.append(why)
    p.commits.commit_packed(items, members[: len(rows)], rows, whys)
    for cls, tasks in left.values():
        p.place(cls, tasks)
