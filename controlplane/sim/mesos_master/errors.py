"""The one way the emulated master refuses a request."""

from __future__ import annotations


class CallError(Exception):
    """A request the master refuses: HTTP status and the master's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
