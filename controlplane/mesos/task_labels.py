"""Task labels that tell the planner how a running task is constrained.

A pending task's constraints are in its submission; once it runs, the loop sees only what
Mesos keeps of it. Our framework labels each task it launches with its hard one-per-host
and exclusive constraints, so consolidation and relocation never count as room for its
work a host it may not share. Tasks other frameworks launch may carry the same labels.
"""

from __future__ import annotations

from collections.abc import Mapping

from controlplane.model import Task

#: A hard `unique_host` task: one of its job per agent.
UNIQUE_HOST = "unique_host"
#: A hard `exclusive` task: nothing else on its agent.
EXCLUSIVE = "exclusive"
#: The labels our framework sets from a task's constraints (a submission's own are dropped).
CONSTRAINT_LABELS = (UNIQUE_HOST, EXCLUSIVE)
_TRUE = frozenset({"true", "yes", "1", "on"})


def flagged(labels: Mapping[str, str], name: str) -> bool:
    """The label is present with a true value (`true`, `yes`, `1`, `on`)."""
    value = labels.get(name)  # most tasks carry neither label: one lookup each
    return value is not None and value.strip().lower() in _TRUE


def constraint_labels(task: Task) -> dict[str, str]:
    """The labels that mark `task`'s hard unique_host and exclusive constraints."""
    kinds = {c.kind for c in task.constraints if not c.soft}
    return {name: "true" for name in CONSTRAINT_LABELS if name in kinds}
