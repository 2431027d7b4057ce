"""Relocation, carried out: what the loop sees of cordoned agents, and the kills.

`planning/relocate.py` decides. Here: the cordoned agents as it needs them (since when,
what runs there, which tasks are ours and restartable), and the port that kills a task
and queues it again (the framework's queue, `TaskQueue.relocate`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from controlplane.control.expectations import expected_end
from controlplane.control.observed import Observed
from controlplane.mesos.task_labels import EXCLUSIVE, UNIQUE_HOST, flagged
from controlplane.planning.relocate import CordonedAgent, RunningTask

#: The task label that marks a task restartable (our framework sets it from the submission).
RESTARTABLE_LABEL = "restartable"


@runtime_checkable
class Relocator(Protocol):
    """Kills our tasks so they run again elsewhere (`controlplane.demand.queue.TaskQueue`)."""

    def relocate(self, task_id: str, reason: str) -> bool: ...

    def relocating(self) -> dict[str, str]: ...

    def state(self, task_id: str) -> str | None: ...


def cordoned_agents(seen: Observed, port: Relocator) -> list[CordonedAgent]:
    """Agents cordoned by consolidation and not yet terminating, with their live tasks; an
    agent some of whose tasks are already being relocated is left to finish that."""
    views = {v.id: v for v in seen.views}
    moving = set(port.relocating())
    out = []
    for agent_id, intent in sorted(seen.state.intents.items()):
        view = views.get(agent_id)
        if not intent.cordon or intent.phase == "terminating" or view is None:
            continue
        live = [t for t in view.tasks if t.live]
        if any(t.id in moving for t in live):
            continue
        tasks = tuple(
            RunningTask(
                t.id,
                t.resources,
                _restartable(t.labels) and port.state(t.id) is not None,
                t.started_at,
                expected_end(t, seen.durations),
                job=t.labels.get("job") or t.id,
                unique_host=flagged(t.labels, UNIQUE_HOST),
                exclusive=flagged(t.labels, EXCLUSIVE),
            )
            for t in live
        )
        out.append(
            CordonedAgent(agent_id, intent.pool, intent.created_at.timestamp(), tasks, view.total)
        )
    return out


def _restartable(labels: Mapping[str, str]) -> bool:
    return labels.get(RESTARTABLE_LABEL, "").lower() == "true"
