"""The framework's task queue kept in the state table, under the leader's lease.

Each queued or live task is one item (`task#<id>` in the `<cluster>#tasks` partition)
holding its submission and where it stands. Writes are fenced like every state write: a
deposed leader cannot queue or launch work its successor does not know about.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from controlplane.aws.errors import AwsError
from controlplane.demand.queue import Entry, JournalError
from controlplane.demand.submission import Submission
from controlplane.errors import describe
from controlplane.state.errors import BadStateError, StateError
from controlplane.state.records import Lease
from controlplane.state.store import StateStore


class StoredTask(BaseModel):
    """One task item's body."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    submission: Submission
    state: str = Field(min_length=1)
    agent_id: str | None = None
    relaunches: int = Field(default=0, ge=0)
    reasons: list[str] = Field(default_factory=list)
    relocating: str | None = None
    relocations: int = Field(default=0, ge=0)

    @classmethod
    def of(cls, entry: Entry) -> StoredTask:
        return cls(
            submission=entry.submission,
            state=entry.state,
            agent_id=entry.agent_id,
            relaunches=entry.relaunches,
            reasons=list(entry.reasons),
            relocating=entry.relocating,
            relocations=entry.relocations,
        )

    def entry(self) -> Entry:
        return Entry(
            self.submission,
            state=self.state,
            agent_id=self.agent_id,
            relaunches=self.relaunches,
            reasons=tuple(self.reasons),
            relocating=self.relocating,
            relocations=self.relocations,
        )


@dataclass(frozen=True)
class TaskJournal:
    """`QueueJournal` on the state table; writes only while `lease()` holds."""

    store: StateStore
    lease: Callable[[], Lease | None]
    clock: Callable[[], datetime]

    def write(self, puts: Sequence[Entry], deletes: Sequence[str]) -> None:
        lease = self.lease()
        if lease is None:
            raise JournalError("not the leader: the task queue cannot be written")
        bodies = {
            e.submission.id: StoredTask.of(e).model_dump_json(exclude_none=True) for e in puts
        }
        try:
            self.store.write_tasks(lease, self.clock(), bodies, list(deletes))
        except (AwsError, StateError) as error:
            raise JournalError(f"task queue not stored: {error}") from error

    def load(self) -> list[Entry]:
        try:
            items = self.store.load_tasks()
        except AwsError as error:
            raise JournalError(f"task queue not loaded: {error}") from error
        out = []
        for item in items:
            name = str(item.get("item", {}).get("S", "?"))
            try:
                stored = StoredTask.model_validate_json(item["body"]["S"])
            except (KeyError, TypeError):
                raise BadStateError(f"item {name}: attribute body (S) is missing") from None
            except ValidationError as error:
                raise BadStateError(f"item {name}: {describe(error)}") from None
            if f"task#{stored.submission.id}" != name:
                raise BadStateError(f"item {name}: holds task {stored.submission.id!r}")
            out.append(stored.entry())
        return out
