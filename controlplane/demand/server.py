"""`POST /v1/tasks` and `GET /v1/tasks`: the framework queue's HTTP face.

Every request needs `Authorization: Bearer <token>` (401 otherwise, before any body is
read). POST takes `{"tasks": [Submission, ...]}` (application/json, a Content-Length,
strict UTF-8) and answers 201 with the accepted ids once they are stored durably; 400
naming the first problem (an unknown pool or command, no resources, bad JSON); 408 for a
body that does not arrive in time; 409 for an id already queued or running; 411 without a
Content-Length (chunked bodies included); 413 past the size cap; 415 for another content
type; 429 with Retry-After when the queue is full; 503 with Retry-After on a standby, while
a new leader reconciles, or when the store refuses the write. GET answers
`{"pending": [Task, ...], "counts": {...}}`, the shape `HttpDemandSource` reads.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from controlplane.demand.errors import DemandError
from controlplane.demand.queue import JournalError, QueueFullError, TaskQueue
from controlplane.demand.submission import check_batch, parse_submission_json
from controlplane.ops.serving import HttpService, Limits, TlsFiles, in_thread
from controlplane.ops.tokens import TokenSource, authorized

PATH = "/v1/tasks"
#: Seconds a client should wait before trying again after 429 or 503.
RETRY_AFTER_S = 5
#: Seconds the body of a request may take to arrive after its headers.
BODY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class SubmissionRules:
    """What the API checks beyond the task's own shape."""

    #: Pools the cluster has now (None: not observed yet, so a task naming a pool waits).
    pools: Callable[[], Collection[str] | None] = lambda: None
    commands: Mapping[str, Sequence[str]] = field(default_factory=dict)
    default_command: str | None = None


class DemandServer:
    """Serves a `TaskQueue` over HTTP(S) on 127.0.0.1 (or `host`), token required."""

    def __init__(
        self,
        queue: TaskQueue,
        *,
        tokens: TokenSource,
        rules: SubmissionRules | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsFiles | None = None,
        limits: Limits | None = None,
        not_accepting: Callable[[], str | None] | None = None,
        body_timeout_s: float = BODY_TIMEOUT_S,
    ) -> None:
        """`not_accepting()` gives why submissions must wait (503), or None: a standby
        holds no framework, and a new leader first reconciles what it loaded."""
        self.queue = queue
        self.tokens = tokens
        self.rules = rules or SubmissionRules()
        self.not_accepting = not_accepting
        self.body_timeout_s = body_timeout_s
        self.service = HttpService(
            self._routes, name="demand-http", host=host, port=port, tls=tls, limits=limits
        )

    def start(self) -> DemandServer:
        self.service.start()
        return self

    def stop(self) -> None:
        self.service.stop()

    def __enter__(self) -> DemandServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"{self.service.scheme}://{self.service.address}{PATH}"

    # ---- handlers -----------------------------------------------------------------------

    def _routes(self, app: web.Application) -> None:
        app.router.add_get(PATH, self._get)
        app.router.add_post(PATH, self._post)

    def _denied(self, request: web.Request) -> web.Response | None:
        if authorized(request.headers.get("Authorization"), self.tokens):
            return None
        return _json(401, {"error": "a valid bearer token is required"}, auth=True)

    async def _get(self, request: web.Request) -> web.Response:
        denied = self._denied(request)
        if denied is not None:
            return denied

        def read() -> dict[str, Any]:
            pending = [t.model_dump(mode="json", exclude_none=True) for t in self.queue.pending()]
            return {"pending": pending, "counts": self.queue.counts()}

        return _json(200, await in_thread(read))

    async def _post(self, request: web.Request) -> web.Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            return _json(411, {"error": "send the body with a Content-Length, not chunked"})
        if request.content_length is None:
            return _json(411, {"error": "a Content-Length is required"})
        limit = self.service.limits.max_body_bytes
        if request.content_length > limit:
            return _json(413, {"error": f"body larger than {limit} bytes"}, close=True)
        content_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip()
        if content_type != "application/json":
            shown = content_type or "none"
            return _json(415, {"error": f"expected Content-Type application/json, got {shown!r}"})
        why = self.not_accepting() if self.not_accepting is not None else None
        if why is not None:
            return _json(503, {"error": f"not accepting tasks: {why}"}, retry=True)
        try:
            async with asyncio.timeout(self.body_timeout_s):
                raw = await request.read()
        except TimeoutError:
            return _json(408, {"error": "the body did not arrive in time"}, close=True)
        except web.HTTPException:
            raise
        except Exception:  # the client went away mid-body: nothing was read, nothing queued
            return _json(400, {"error": "the body ended early"}, close=True)
        if len(raw) != request.content_length:
            return _json(400, {"error": "the body is shorter than its Content-Length"})
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            return _json(400, {"error": f"the body is not UTF-8: byte {error.start}"})
        return await in_thread(lambda: self._submit(text))

    def _submit(self, text: str) -> web.Response:
        source = "POST /v1/tasks"
        try:
            batch = parse_submission_json(text, source)
            rules = self.rules
            check_batch(
                batch,
                pools=rules.pools(),
                commands=rules.commands,
                default_command=rules.default_command,
                source=source,
            )
        except DemandError as error:
            return _json(400, {"error": str(error)})
        why = self.not_accepting() if self.not_accepting is not None else None
        if why is not None:
            return _json(503, {"error": f"not accepting tasks: {why}"}, retry=True)
        try:
            ids = self.queue.submit(batch)
        except QueueFullError as error:
            return _json(429, {"error": str(error)}, retry=True)
        except JournalError as error:
            return _json(503, {"error": str(error)}, retry=True)
        except DemandError as error:
            return _json(409, {"error": str(error)})
        return _json(201, {"accepted": ids})


def _json(
    status: int, body: Any, *, retry: bool = False, auth: bool = False, close: bool = False
) -> web.Response:
    headers: dict[str, str] = {}
    if retry:
        headers["Retry-After"] = str(RETRY_AFTER_S)
    if auth:
        headers["WWW-Authenticate"] = 'Bearer realm="controlplane"'
    if close:
        headers["Connection"] = "close"
    return web.Response(
        status=status,
        body=json.dumps(body).encode("utf-8"),
        content_type="application/json",
        headers=headers,
    )
