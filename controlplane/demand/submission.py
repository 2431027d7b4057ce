"""What a client submits to the framework's own queue: a contract `Task` plus how to run it.

The task part is validated by `controlplane.model.Task` itself (strict, unknown fields
refused), so the queue accepts exactly what a snapshot would.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, TypeAdapter, ValidationError

from controlplane.demand.errors import DemandError
from controlplane.errors import describe
from controlplane.loading import parse_json
from controlplane.model import Task

#: At most this many tasks in one submission (one request must stay cheap to validate).
MAX_BATCH = 10_000


class Submission(Task):
    """A task and its launch details. `labels` reach Mesos as TaskInfo labels
    (the emulator reads `duration_s` from them)."""

    command: str = Field(default="true", min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)

    def as_task(self) -> Task:
        """The contract part only (what goes into a snapshot)."""
        return Task.model_validate(self.model_dump(exclude={"command", "labels"}))


_BATCH = TypeAdapter(list[Submission])


def parse_submissions(data: Any, source: str = "submission") -> list[Submission]:
    """A batch from `{"tasks": [...]}` (or a bare list); all valid and unique, or DemandError."""
    if isinstance(data, dict):
        extra = sorted(set(data) - {"tasks"})
        if extra:
            raise DemandError(f"{source}: {extra[0]}: unknown field")
        if "tasks" not in data:
            raise DemandError(f"{source}: tasks: missing required field")
        data = data["tasks"]
    if not isinstance(data, list):
        raise DemandError(f'{source}: expected a list of tasks or {{"tasks": [...]}}')
    if len(data) > MAX_BATCH:
        raise DemandError(f"{source}: {len(data)} tasks in one batch; at most {MAX_BATCH}")
    try:
        batch = _BATCH.validate_python(data)
    except ValidationError as exc:
        raise DemandError(f"{source}: tasks{_index(describe(exc))}") from exc
    seen: set[str] = set()
    for i, sub in enumerate(batch):
        if sub.id in seen:
            raise DemandError(f"{source}: tasks[{i}]: duplicate task id {sub.id!r}")
        seen.add(sub.id)
    return batch


def parse_submission_json(text: str, source: str = "submission") -> list[Submission]:
    """As `parse_submissions`, from JSON text (duplicate keys and NaN refused)."""
    try:
        data = parse_json(text, source)
    except DemandError:
        raise
    except Exception as exc:
        raise DemandError(str(exc)) from exc
    return parse_submissions(data, source)


def _index(where: str) -> str:
    # describe() renders a list location as "[3].resources: ..."; keep it readable after "tasks".
    return where if where.startswith("[") else f": {where}"
