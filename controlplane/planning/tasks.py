"""Pending tasks grouped into equivalence classes, in the order the planner places them.

Tasks with the same demand, pool and constraints (and the same job, where a constraint
counts the job's tasks) are interchangeable: the planner decides for the class, not for each
of thousands of identical tasks, as Borg and Cluster Autoscaler do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter

import numpy as np

from controlplane.model import (
    AttributeConstraint,
    BalancedConstraint,
    ExclusiveConstraint,
    Snapshot,
    Task,
    UniqueHostConstraint,
)
from controlplane.planning.helpers.columns import flatten, resource_matrix
from controlplane.planning.table import FloatArray, vector

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class TaskClass:
    """Interchangeable pending tasks and what each of them asks for."""

    demand: FloatArray
    pool: str | None
    job: str | None  # set only when a constraint counts (or closes rows to) the job's tasks
    hard_attrs: tuple[tuple[str, str], ...] = ()
    soft_attrs: tuple[tuple[str, str], ...] = ()
    unique_host: bool = False
    soft_unique_host: bool = False
    exclusive: bool = False
    soft_exclusive: bool = False
    balanced: tuple[str, ...] = ()
    soft_balanced: tuple[str, ...] = ()
    tasks: list[Task] = field(default_factory=list)
    #: Expected duration of each of its tasks (seconds), when known.
    expected_s: float | None = None

    @property
    def constrained(self) -> bool:
        return bool(self.hard_attrs or self.unique_host or self.exclusive or self.balanced)

    @property
    def plain(self) -> bool:
        """No constraint at all, hard or soft: any instance of its pool serves it alike."""
        return not (self.constrained or self.soft_count)

    @property
    def soft_count(self) -> int:
        return (
            len(self.soft_attrs)
            + int(self.soft_unique_host)
            + int(self.soft_exclusive)
            + len(self.soft_balanced)
        )

    @property
    def batchable(self) -> bool:
        """Whether placing one task leaves every other row's standing for the next unchanged.

        True when only attribute constraints apply: then the row chosen for one task stays
        the best for the next as long as it fits (bin-packing fitness only rises as it fills).
        """
        return not (
            self.unique_host
            or self.soft_unique_host
            or self.exclusive
            or self.soft_exclusive
            or self.balanced
            or self.soft_balanced
        )

    @property
    def one_per_row(self) -> bool:
        """Whether a row that takes one task of the class can take no other, while every other
        row's standing is unchanged (hard unique_host or exclusive, nothing balanced).

        Then ranking the rows once and giving one task to each of the best is exactly the
        one-at-a-time result, whatever the fitness.
        """
        return (self.unique_host or self.exclusive) and not (self.balanced or self.soft_balanced)

    @property
    def job_attributes(self) -> tuple[str, ...]:
        return tuple(sorted({*self.balanced, *self.soft_balanced}))


def _job_bound(task: Task, closing: set[str]) -> bool:
    """Whether placing the task depends on (or changes) where its job's tasks are."""
    if task.job_name in closing:
        return True
    # `if task.constraints` first: most tasks have none, and the generator costs 50,000 x.
    return bool(task.constraints) and any(
        isinstance(c, UniqueHostConstraint | BalancedConstraint) for c in task.constraints
    )


def _closing_jobs(snapshot: Snapshot) -> set[str]:
    """Jobs with a hard unique_host task: no other task of the job may join its agent."""
    return {
        t.job_name
        for t in snapshot.pending
        if any(isinstance(c, UniqueHostConstraint) and not c.soft for c in t.constraints)
    }


def _class_key(task: Task, shape: int, closing: set[str]) -> tuple[object, ...]:
    """`shape` numbers the task's demand vector: equal demands, equal numbers."""
    # Most tasks have no constraint: skip the (costly) serialisation for them.
    cons = tuple(sorted(c.model_dump_json() for c in task.constraints)) if task.constraints else ()
    job = task.job_name if _job_bound(task, closing) else None
    if task.expected_duration_s is not None:  # lifetimes differ: not interchangeable
        return (shape, task.pool, cons, job, task.expected_duration_s)
    return (shape, task.pool, cons, job)


def _new_class(task: Task, demand: FloatArray, closing: set[str]) -> TaskClass:
    cls = TaskClass(demand=demand, pool=task.pool, job=None, expected_s=task.expected_duration_s)
    hard: list[tuple[str, str]] = []
    soft: list[tuple[str, str]] = []
    balanced: list[str] = []
    soft_balanced: list[str] = []
    for c in task.constraints:
        if isinstance(c, AttributeConstraint):
            (soft if c.soft else hard).append((c.name, str(c.value)))
        elif isinstance(c, UniqueHostConstraint):
            if c.soft:
                cls.soft_unique_host = True
            else:
                cls.unique_host = True
        elif isinstance(c, ExclusiveConstraint):
            if c.soft:
                cls.soft_exclusive = True
            else:
                cls.exclusive = True
        elif c.soft:
            soft_balanced.append(c.attribute)
        else:
            balanced.append(c.attribute)
    cls.hard_attrs = tuple(sorted(set(hard)))
    cls.soft_attrs = tuple(sorted(set(soft)))
    cls.balanced = tuple(sorted(set(balanced)))
    cls.soft_balanced = tuple(sorted(set(soft_balanced)))
    if _job_bound(task, closing):
        cls.job = task.job_name
    return cls


def task_classes(snapshot: Snapshot, dims: dict[str, int]) -> list[TaskClass]:
    """Classes in placement order: pinned first, then larger first (FFD).

    Pinned: a hard constraint, or a resource no pool offers (only today's agents can hold it).

    Size is the task's demand summed over resources, each as a share of the largest pool
    capacity in that resource (of the largest ask, for a resource no pool offers). Ties go
    to the class whose oldest task is oldest, then by id.
    """
    classes: dict[tuple[object, ...], TaskClass] = {}
    closing = _closing_jobs(snapshot)
    pending = snapshot.pending
    # All demands in one matrix, numbered by distinct row: no per-task vector or tuple.
    demands = resource_matrix(flatten(list(map(attrgetter("resources"), pending))), dims)
    shapes = [0] * len(pending)
    if pending and dims:
        # Rows as opaque bytes: equal demands, equal keys (np.unique over axis 0 is slower);
        # + 0.0 turns -0.0 into 0.0, whose bytes differ.
        rows = np.ascontiguousarray(demands + 0.0).view(np.dtype((np.void, 8 * len(dims))))
        shapes = np.unique(rows.reshape(-1), return_inverse=True)[1].reshape(-1).tolist()
    for i, (task, shape) in enumerate(zip(pending, shapes, strict=True)):
        key = _class_key(task, shape, closing)
        cls = classes.get(key)
        if cls is None:
            cls = classes[key] = _new_class(task, demands[i].copy(), closing)
        cls.tasks.append(task)
    scale = np.zeros(len(dims), dtype=np.float64)
    for pool in snapshot.pools:
        scale = np.maximum(scale, vector(dims, pool.capacity))
    # A resource no pool offers: measure it against the largest ask, so raw units do not rank.
    unoffered = scale == 0
    for cls in classes.values():
        scale[unoffered] = np.maximum(scale[unoffered], cls.demand[unoffered])
    scale[scale == 0] = 1.0

    def order(task: Task) -> tuple[datetime, str]:
        return (task.submitted or _EPOCH, task.id)

    for cls in classes.values():
        cls.tasks.sort(key=order)

    def rank(cls: TaskClass) -> tuple[bool, float, datetime, str]:
        size = float(np.sum(cls.demand / scale))
        first = order(cls.tasks[0])
        # A resource no pool offers pins the task to today's agents, like a hard constraint.
        pinned = cls.constrained or bool(np.any(cls.demand[unoffered] > 0))
        return (not pinned, -size, first[0], first[1])

    return sorted(classes.values(), key=rank)
