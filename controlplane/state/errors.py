"""Errors of the state store: each names the item or the lease and the problem."""

from __future__ import annotations

from controlplane.errors import InputError


class StateError(Exception):
    """Base of every error the state store raises on purpose."""


class BadStateError(StateError):
    """An item the store cannot read; nothing is decided on half-understood state."""


class LeaseLostError(StateError):
    """The lease is held by another holder or token, or has expired: stop acting."""


class MissingTableError(StateError, InputError):
    """The state table does not exist: a deployment step is missing, not a passing fault."""
