"""What a client submits to the framework's own queue: a contract `Task` plus how to run it.

The task part is validated by `controlplane.model.Task` itself (strict, unknown fields
refused), so the queue accepts exactly what a snapshot would. How it runs is not free-form:
`command` names one of the operator's allowed commands (`demand.commands`), each a fixed
argument vector run without a shell, so a client can choose what runs but never write it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Annotated, Any

from pydantic import Field, StringConstraints, TypeAdapter, ValidationError

from controlplane.demand.errors import DemandError
from controlplane.errors import describe
from controlplane.formats.snapshot_json import parse_json
from controlplane.model import Task

#: At most this many tasks in one submission: one DynamoDB transaction stores them all
#: (100 members, one of which checks the lease), so a batch is queued whole or not at all.
MAX_BATCH = 99
#: Task ids are DynamoDB sort keys and Mesos task ids: bounded and printable.
MAX_ID_CHARS = 200
_LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=128)]
_LabelValue = Annotated[str, StringConstraints(max_length=1024)]
_CommandName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


class Submission(Task):
    """A task and its launch details. `labels` reach Mesos as TaskInfo labels
    (the emulator reads `duration_s` from them)."""

    command: _CommandName | None = None
    #: The task may be killed and run again elsewhere (from the start): consolidation may
    #: relocate it off an agent it keeps from leaving (pool rule `relocate_after_s`).
    restartable: bool = False
    labels: Annotated[dict[_LabelKey, _LabelValue], Field(max_length=32)] = Field(
        default_factory=dict
    )

    def as_task(self) -> Task:
        """The contract part only (what goes into a snapshot)."""
        return Task.model_validate(self.model_dump(exclude={"command", "labels", "restartable"}))


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
    if not data:
        raise DemandError(f"{source}: tasks: an empty batch")
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
        if len(sub.id) > MAX_ID_CHARS or not sub.id.isprintable():
            raise DemandError(
                f"{source}: tasks[{i}].id: at most {MAX_ID_CHARS} printable characters"
            )
        if not any(v > 0 for v in sub.resources.values()):
            raise DemandError(f"{source}: tasks[{i}].resources: ask for at least one resource")
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


def check_batch(
    batch: Sequence[Submission],
    *,
    pools: Collection[str] | None,
    commands: Mapping[str, Sequence[str]],
    default_command: str | None,
    source: str = "submission",
) -> None:
    """Refuse a task for a pool the cluster does not have, or a command not allowed.

    `pools` None means the pools are not known yet (no pass has observed AWS): a task
    naming a pool is then refused too, rather than queued for a pool that may not exist.
    """
    for i, sub in enumerate(batch):
        if sub.pool is not None and (pools is None or sub.pool not in pools):
            known = "none observed yet" if pools is None else ", ".join(sorted(pools)) or "none"
            raise DemandError(f"{source}: tasks[{i}].pool: unknown pool {sub.pool!r} ({known})")
        name = sub.command or default_command
        if name is None:
            allowed = ", ".join(sorted(commands)) or "none configured"
            raise DemandError(f"{source}: tasks[{i}].command: name one of: {allowed}")
        if name not in commands:
            allowed = ", ".join(sorted(commands)) or "none configured"
            raise DemandError(
                f"{source}: tasks[{i}].command: {name!r} is not an allowed command ({allowed})"
            )


def _index(where: str) -> str:
    # describe() renders a list location as "[3].resources: ..."; keep it readable after "tasks".
    return where if where.startswith("[") else f": {where}"
