"""The one error every demand source raises."""

from __future__ import annotations

from controlplane.errors import InputError


class DemandError(InputError):
    """Demand that will not be accepted (malformed, duplicate, unreachable); says why."""
