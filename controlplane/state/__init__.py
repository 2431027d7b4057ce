"""Durable state of the control loop (DynamoDB) and the leader lease; see docs/state.md."""

from __future__ import annotations

import os
import secrets
import socket

from controlplane.state.errors import BadStateError, LeaseLostError, StateError
from controlplane.state.framework_id import DynamoFrameworkIdStore
from controlplane.state.records import ControlState, DrainIntent, Lease, StateChanges
from controlplane.state.store import StateStore


def default_holder() -> str:
    """`host:pid:random`: unique per process, readable in the lease item."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


__all__ = [
    "BadStateError",
    "ControlState",
    "DrainIntent",
    "DynamoFrameworkIdStore",
    "Lease",
    "LeaseLostError",
    "StateChanges",
    "StateError",
    "StateStore",
    "default_holder",
]
