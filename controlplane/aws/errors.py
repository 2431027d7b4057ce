"""Errors of the AWS adapter: each message names the call or reply and the problem."""

from __future__ import annotations


class AwsError(Exception):
    """Base of every error the AWS adapter raises on purpose."""


class AwsCallError(AwsError):
    """An AWS API call failed for good (not retried, or retries exhausted)."""

    def __init__(self, operation: str, code: str, message: str, attempts: int) -> None:
        self.operation = operation
        self.code = code
        self.api_message = message
        self.attempts = attempts
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{operation} failed{tries}: {code}: {message}")


class BadAwsReplyError(AwsError):
    """An AWS reply the adapter will not act on (missing fields, two zones, ...)."""


class UnsafeActionError(AwsError):
    """A plan action the adapter refuses: it names a group or instance it does not know."""
