"""What `/healthz` reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Health:
    ok: bool
    #: JSON-serialisable details shown in the `/healthz` body.
    detail: dict[str, Any] = field(default_factory=dict)
