"""The Mesos framework id, kept in the state table so that a new leader fails over to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from controlplane.state.errors import LeaseLostError
from controlplane.state.records import Lease
from controlplane.state.store import StateStore


@dataclass(frozen=True)
class DynamoFrameworkIdStore:
    """`FrameworkIdStore` on the state table; only the lease holder may change the id."""

    store: StateStore
    lease: Callable[[], Lease | None]
    clock: Callable[[], datetime]

    def load(self) -> str | None:
        return self.store.load().framework_id

    def save(self, framework_id: str) -> None:
        self.store.save_framework_id(self._lease(), self.clock(), framework_id)

    def clear(self) -> None:
        self.store.clear_framework_id(self._lease(), self.clock())

    def _lease(self) -> Lease:
        lease = self.lease()
        if lease is None:
            raise LeaseLostError("not the leader: the framework id is left as it is")
        return lease
