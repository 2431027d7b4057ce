"""A client for the Mesos v1 operator API (`POST /api/v1`), standard library only.

pymesos has no DRAIN_AGENT or DEACTIVATE_AGENT helper, and the Lambda bundle must not need
pymesos, so this speaks HTTP itself. It follows 307 redirects to the leading master (and
remembers it), retries 503 (no leader yet) and connection errors with bounded, jittered
backoff, and counts and times every call.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import socket
import ssl
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from controlplane.mesos.replies import (
    AgentView,
    MalformedReplyError,
    MesosError,
    TaskView,
    read_agents,
    read_state,
    read_tasks,
)

log = logging.getLogger(__name__)
OPERATOR_PATH = "/api/v1"
#: Redirect hops one call may follow (a leader election settles in one or two).
MAX_REDIRECTS = 3


class _RetryableError(MesosError):
    """503 or a connection problem: worth another try, perhaps at another master."""


class OperatorMetrics:
    """Call counts and latencies, registered in the registry the caller chooses."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "controlplane_mesos_operator_calls",
            "Mesos operator API calls by call type and outcome",
            ["call", "outcome"],
            registry=registry,
        )
        self.seconds = Histogram(
            "controlplane_mesos_operator_call_seconds",
            "Mesos operator API call latency, retries included",
            ["call"],
            registry=registry,
        )
        self.observations = Counter(
            "controlplane_mesos_observations",
            "How passes read the cluster: the event stream's picture or GET_STATE",
            ["source"],
            registry=registry,
        )
        self.stream_gaps = Counter(
            "controlplane_mesos_stream_gaps",
            "Times the operator event stream was opened again after a gap",
            registry=registry,
        )


class OperatorClient:
    """Operator calls against a master, or a list of candidate masters (`host:port`)."""

    def __init__(
        self,
        masters: str | Sequence[str],
        *,
        timeout_s: float = 10.0,
        attempts: int = 5,
        max_backoff_s: float = 2.0,
        registry: CollectorRegistry | None = None,
        credentials: tuple[str, str] | None = None,
        ca_bundle: Path | None = None,
    ) -> None:
        """`credentials` (principal, secret) go as HTTP basic auth, as Mesos expects.
        `https://` masters are spoken to over TLS with the certificate verified (against
        `ca_bundle`, or the system's roots); all masters must share one scheme."""
        seeds = [masters] if isinstance(masters, str) else list(masters)
        if not seeds:
            raise ValueError("give at least one master address")
        schemes = {m.split("://", 1)[0].lower() if "://" in m else "http" for m in seeds}
        if len(schemes) != 1 or not schemes <= {"http", "https"}:
            raise ValueError(f"masters must all be http:// or all https://, got {sorted(schemes)}")
        self.scheme = schemes.pop()
        self._tls = (
            ssl.create_default_context(cafile=None if ca_bundle is None else str(ca_bundle))
            if self.scheme == "https"
            else None
        )
        self._seeds = [_hostport(m) for m in seeds]
        self._current = self._seeds[0]
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._max_backoff_s = max_backoff_s
        self.metrics = OperatorMetrics(registry if registry is not None else CollectorRegistry())
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if credentials is not None:
            token = base64.b64encode(":".join(credentials).encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {token}"

    @property
    def master(self) -> str:
        """The master the next call goes to (the last known leader)."""
        return self._current

    # ---- calls --------------------------------------------------------------------------

    def call(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """One operator call; the JSON reply, or None for an empty 200."""
        kind = str(body.get("type", "?"))
        started = time.monotonic()
        outcome = "error"
        try:
            reply = self._with_retries(body)
            outcome = "ok"
            return reply
        finally:
            self.metrics.calls.labels(kind, outcome).inc()
            self.metrics.seconds.labels(kind).observe(time.monotonic() - started)

    def state(self, *, completed: bool = True) -> tuple[list[AgentView], list[TaskView]]:
        """Agents (total, used, offered, attributes, drain state, live tasks) and all tasks
        (live only unless `completed`)."""
        return read_state(self.call({"type": "GET_STATE"}), completed=completed)

    def agents(self) -> list[AgentView]:
        """Every agent with its live tasks, from one GET_STATE: GET_AGENTS and GET_TASKS
        are two instants, and a task ending between them would make `used` and the task
        list disagree in the snapshot."""
        return self.state(completed=False)[0]

    def agents_only(self) -> list[AgentView]:
        """GET_AGENTS alone (no tasks attached): cheaper when only resources matter."""
        reply = self._typed(self.call({"type": "GET_AGENTS"}), "GET_AGENTS")
        return read_agents(reply.get("get_agents"), "GET_AGENTS", "get_agents", [])

    def tasks(self) -> list[TaskView]:
        reply = self._typed(self.call({"type": "GET_TASKS"}), "GET_TASKS")
        return read_tasks(reply.get("get_tasks"), "GET_TASKS", "get_tasks")

    def drain_agent(
        self, agent_id: str, max_grace_period_s: float | None = None, *, mark_gone: bool = False
    ) -> None:
        """Deactivate the agent, kill its tasks (after the grace period), mark it DRAINED."""
        drain: dict[str, Any] = {"agent_id": {"value": agent_id}, "mark_gone": mark_gone}
        if max_grace_period_s is not None:
            whole = int(max_grace_period_s)
            drain["max_grace_period"] = {
                "seconds": whole,
                "nanos": round((max_grace_period_s - whole) * 1e9),
            }
        self.call({"type": "DRAIN_AGENT", "drain_agent": drain})

    def deactivate_agent(self, agent_id: str) -> None:
        """No more offers from the agent; its tasks keep running."""
        self._agent_call("DEACTIVATE_AGENT", agent_id)

    def reactivate_agent(self, agent_id: str) -> None:
        self._agent_call("REACTIVATE_AGENT", agent_id)

    def mark_agent_gone(self, agent_id: str) -> None:
        self._agent_call("MARK_AGENT_GONE", agent_id)

    def _agent_call(self, kind: str, agent_id: str) -> None:
        self.call({"type": kind, kind.lower(): {"agent_id": {"value": agent_id}}})

    # ---- transport ----------------------------------------------------------------------

    @staticmethod
    def _typed(reply: dict[str, Any] | None, kind: str) -> dict[str, Any]:
        if not isinstance(reply, dict) or reply.get("type") != kind:
            shown = None if reply is None else reply.get("type")
            raise MalformedReplyError(f"{kind} reply: type: expected {kind}, got {shown!r}")
        return reply

    def _with_retries(self, body: dict[str, Any]) -> dict[str, Any] | None:
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_random_exponential(multiplier=0.1, max=self._max_backoff_s),
            retry=retry_if_exception_type(_RetryableError),
            reraise=False,
        )
        try:
            return retrying(self._once, body)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise MesosError(
                f"{body.get('type')}: gave up after {self._attempts} attempts: {last}"
            ) from last

    def _once(self, body: dict[str, Any]) -> dict[str, Any] | None:
        data = json.dumps(body).encode("utf-8")
        target = self._current
        for _ in range(MAX_REDIRECTS + 1):
            status, headers, payload = self._post(target, data)
            if status == 307:
                leader = _leader(target, headers.get("location", ""))
                log.info("operator API: %s redirects to leader %s", target, leader)
                target = self._current = leader
                continue
            if status == 503:
                self._rotate(target)
                raise _RetryableError(f"{target}: 503 {payload.decode('utf-8', 'replace')[:200]}")
            if status != 200:
                text = payload.decode("utf-8", "replace")[:500]
                raise MesosError(f"{body.get('type')}: master {target} answered {status}: {text}")
            if not payload:
                return None
            try:
                reply = orjson.loads(payload)  # a GET_STATE of 10k agents is ~50 MB
            except (UnicodeDecodeError, ValueError) as exc:
                raise MalformedReplyError(f"{body.get('type')} reply is not JSON: {exc}") from exc
            if not isinstance(reply, dict):
                raise MalformedReplyError(f"{body.get('type')} reply is not a JSON object")
            return reply
        raise MesosError(f"{body.get('type')}: more than {MAX_REDIRECTS} redirects")

    def _connect(self, target: str) -> http.client.HTTPConnection:
        """A connection to `target` (host:port), over TLS when the client was given it."""
        host, _, port = target.rpartition(":")
        if self._tls is not None:
            return http.client.HTTPSConnection(
                host, int(port), timeout=self._timeout_s, context=self._tls
            )
        return http.client.HTTPConnection(host, int(port), timeout=self._timeout_s)

    def _post(self, target: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
        conn = self._connect(target)
        try:
            conn.request(
                "POST",
                OPERATOR_PATH,
                body=data,
                headers=self._headers,
            )
            resp = conn.getresponse()
            payload = resp.read()
            headers = {k.lower(): v for k, v in resp.getheaders()}
            return resp.status, headers, payload
        except ssl.SSLCertVerificationError as exc:  # another try gets the same certificate
            raise MesosError(
                f"{target}: TLS certificate not trusted: {exc.verify_message}"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            self._rotate(target)
            raise _RetryableError(f"{target}: {exc}") from exc
        finally:
            conn.close()

    def open_stream(
        self, body: dict[str, Any], read_timeout_s: float
    ) -> tuple[socket.socket, http.client.HTTPResponse]:
        """POST a streaming call (the operator SUBSCRIBE) to the leader, following 307s:
        the connection's socket (reads on it wait at most `read_timeout_s`; shut it down to
        end the stream from another thread) and the 200 response, whose body the caller
        reads. MesosError for anything else."""
        data = json.dumps(body).encode("utf-8")
        target = self._current
        for _ in range(MAX_REDIRECTS + 1):
            conn = self._connect(target)
            try:
                conn.request("POST", OPERATOR_PATH, body=data, headers=self._headers)
                sock = conn.sock  # the response reads it even once the connection lets go
                if sock is None:
                    raise OSError("no connection after the request")
                sock.settimeout(read_timeout_s)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._rotate(target)
                raise MesosError(f"{target}: {exc}") from exc
            if resp.status == 200:
                return sock, resp
            payload = resp.read()
            conn.close()
            if resp.status == 307:
                target = self._current = _leader(target, resp.getheader("location", ""))
                continue
            if resp.status == 503:
                self._rotate(target)
            text = payload.decode("utf-8", "replace")[:300]
            raise MesosError(f"{body.get('type')}: master {target} answered {resp.status}: {text}")
        raise MesosError(f"{body.get('type')}: more than {MAX_REDIRECTS} redirects")

    def _rotate(self, failed: str) -> None:
        """After a failure, try the next seed (the leader may have moved or died)."""
        if len(self._seeds) > 1:
            at = self._seeds.index(failed) if failed in self._seeds else -1
            self._current = self._seeds[(at + 1) % len(self._seeds)]


def _leader(target: str, location: str) -> str:
    """host:port of the leader a standby's 307 names (`Location: //host:port/path`)."""
    leader = urlsplit(location).netloc or location.split("/", 1)[0]
    if not leader:
        raise MesosError(f"307 from {target} without a usable Location {location!r}")
    return leader


def _hostport(master: str) -> str:
    if "://" in master:
        master = urlsplit(master).netloc
    master = master.rstrip("/")
    if ":" not in master:
        master += ":5050"
    return master
