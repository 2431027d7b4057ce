"""Pending demand: tasks waiting for resources, from any source, as contract `Task`s.

Every source answers `pending()` with validated `Task` models or raises `DemandError`; a
malformed batch is refused whole, never half-applied.
"""

from typing import Protocol

from controlplane.demand.errors import DemandError
from controlplane.model import Task


class DemandSource(Protocol):
    """Anything that can say which tasks are waiting right now."""

    def pending(self) -> list[Task]: ...


__all__ = ["DemandError", "DemandSource"]
