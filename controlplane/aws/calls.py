"""The one door to AWS: retries for throttling, a metric per call, and dry-run.

Every adapter call goes through `AwsCaller` so that retry policy, counting and dry-run are
the same everywhere. botocore's own retries are switched off (`client_config`) so the counts
are exact and the retry bound is ours alone.

Retry rule: throttling is retried for every call (AWS refused it before acting). Server
faults (5xx, an unreadable reply, a dropped connection) are retried only for idempotent
calls, because a non-idempotent call (TerminateInstanceInAutoScalingGroup with decrement)
may have taken effect before the fault and must not be made twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError
from prometheus_client import CollectorRegistry, Counter, Histogram
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from controlplane.aws.errors import AwsCallError

log = logging.getLogger(__name__)

#: Error codes AWS services use for "slow down"; the request was not acted on.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "EC2ThrottledException",
        "SlowDown",
        "PriorRequestNotComplete",
        "ProvisionedThroughputExceededException",
    }
)
_SERVER_FAULT_CODES = frozenset({"InternalFailure", "InternalError", "ServiceUnavailable"})
_TRANSPORT_FAULTS = (
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseParserError,
)


def client_config(*, connect_timeout_s: float = 5.0, read_timeout_s: float = 20.0) -> Config:
    """botocore settings for adapter clients: no hidden retries, bounded waits."""
    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
    )


class BotoClient(Protocol):
    """What the caller needs of a boto3 client: its metadata and its methods."""

    @property
    def meta(self) -> Any: ...


class AwsMetrics:
    """Per-operation call counts and latencies, in a registry the owner chooses."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.calls = Counter(
            "controlplane_aws_calls",
            "AWS API calls by operation and outcome (each attempt counts)",
            ["service", "operation", "outcome"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "controlplane_aws_call_seconds",
            "AWS API call latency by operation (each attempt)",
            ["service", "operation"],
            registry=self.registry,
        )

    def count(self, operation: str, outcome: str | None = None) -> int:
        """Calls made to `operation` (all outcomes, or one); for tests and health pages."""
        total = 0.0
        for metric in self.calls.collect():
            for sample in metric.samples:
                if not sample.name.endswith("_total"):
                    continue
                labels = sample.labels
                if labels["operation"] == operation and outcome in (None, labels["outcome"]):
                    total += sample.value
        return int(total)

    def counts(self, outcome: str | None = None) -> dict[str, int]:
        """Calls per operation (optionally of one outcome), zero-count operations left out."""
        out: dict[str, int] = {}
        for metric in self.calls.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total") and outcome in (None, sample.labels["outcome"]):
                    op = sample.labels["operation"]
                    out[op] = out.get(op, 0) + int(sample.value)
        return {op: n for op, n in out.items() if n}


class _RetryableError(Exception):
    """Internal: a failed attempt that the policy allows to repeat."""

    def __init__(self, cause: Exception, code: str, message: str) -> None:
        super().__init__(message)
        self.cause = cause
        self.code = code
        self.message = message


def _classify(error: Exception, idempotent: bool) -> tuple[str, str, str]:
    """(outcome, code, message) for a failed attempt; outcome says whether to retry."""
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        message = str(err.get("Message", str(error)))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code in THROTTLING_CODES:
            return "throttled", code, message
        if status >= 500 or code in _SERVER_FAULT_CODES:
            return ("server_error" if idempotent else "server_error_final"), code, message
        return "client_error", code, message
    return (
        ("server_error" if idempotent else "server_error_final"),
        type(error).__name__,
        str(error),
    )


class AwsCaller:
    """Makes AWS calls with bounded jittered retries, metrics and optional dry-run."""

    def __init__(
        self,
        *,
        metrics: AwsMetrics | None = None,
        dry_run: bool = False,
        max_attempts: int = 5,
        base_delay_s: float = 0.2,
        max_delay_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.metrics = metrics if metrics is not None else AwsMetrics()
        self.dry_run = dry_run
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self._sleep = sleep
        self._clock = clock

    def read(self, client: BotoClient, operation: str, **params: Any) -> dict[str, Any]:
        """A describe call: idempotent, always made, even in dry-run."""
        return self._call(client, operation, params, idempotent=True)

    def write(
        self, client: BotoClient, operation: str, *, idempotent: bool, **params: Any
    ) -> dict[str, Any] | None:
        """A mutating call; in dry-run it is logged and not made (returns None)."""
        if self.dry_run:
            service = client.meta.service_model.service_name
            self.metrics.calls.labels(service, operation, "dry_run").inc()
            log.info("dry-run: would call %s %s", operation, params)
            return None
        return self._call(client, operation, params, idempotent=idempotent)

    def _call(
        self, client: BotoClient, operation: str, params: dict[str, Any], *, idempotent: bool
    ) -> dict[str, Any]:
        service = str(client.meta.service_model.service_name)
        method = getattr(client, xform_name(operation))

        def attempt() -> dict[str, Any]:
            started = self._clock()
            try:
                reply: dict[str, Any] = method(**params)
            except (ClientError, *_TRANSPORT_FAULTS) as error:
                outcome, code, message = _classify(error, idempotent)
                self._observe(service, operation, outcome, started)
                if outcome in {"throttled", "server_error"}:
                    raise _RetryableError(error, code, message) from error
                raise AwsCallError(operation, code, message, attempts=1) from error
            self._observe(service, operation, "ok", started)
            return reply

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            # Full jitter: a uniform wait up to the exponential bound spreads out callers that
            # were throttled together (AWS's recommended shape).
            wait=wait_random_exponential(multiplier=self.base_delay_s, max=self.max_delay_s),
            retry=retry_if_exception(lambda e: isinstance(e, _RetryableError)),
            sleep=self._sleep,
            before_sleep=_log_retry(operation),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _RetryableError as final:
            raise AwsCallError(
                operation, final.code, final.message, attempts=self.max_attempts
            ) from final.cause
        except AwsCallError as error:
            tries = retrying.statistics.get("attempt_number", 1)
            raise AwsCallError(
                operation, error.code, error.api_message, attempts=int(tries)
            ) from error.__cause__

    def _observe(self, service: str, operation: str, outcome: str, started: float) -> None:
        self.metrics.calls.labels(service, operation, outcome).inc()
        self.metrics.seconds.labels(service, operation).observe(self._clock() - started)


def _log_retry(operation: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s: %s; retry %d in %.2fs", operation, error, state.attempt_number, wait)

    return before_sleep
