"""What `/healthz` reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Health:
    ok: bool
    #: JSON-serialisable details safe to show anyone who reaches the port (`/healthz`).
    public: dict[str, Any] = field(default_factory=dict)
    #: Details for the log only (host names, error text).
    private: dict[str, Any] = field(default_factory=dict)
