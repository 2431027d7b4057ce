"""`POST /v1/tasks` and `GET /v1/tasks`: the framework queue's HTTP face on a free port.

POST takes `{"tasks": [Submission, ...]}` (application/json) and answers 201 with the
accepted ids, 400 naming the first problem, 409 for an id already queued or running, 415
for another content type. GET answers `{"pending": [Task, ...], "counts": {...}}`, the same
shape `HttpDemandSource` reads, so one queue can feed another control plane.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from controlplane.demand.errors import DemandError
from controlplane.demand.queue import TaskQueue
from controlplane.demand.submission import parse_submission_json

PATH = "/v1/tasks"
#: Largest request body read (bytes).
MAX_BODY = 16 * 1024 * 1024


class DemandServer:
    """Serves a `TaskQueue` over HTTP on 127.0.0.1 (or `host`)."""

    def __init__(
        self,
        queue: TaskQueue,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        accepting: Callable[[], bool] | None = None,
    ) -> None:
        """`accepting()` False refuses submissions with 503 (a standby daemon holds no
        framework, so work queued there would never run)."""
        self.queue = queue
        self.accepting = accepting
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> DemandServer:
        server = ThreadingHTTPServer((self._host, self._port), _Handler)
        server.daemon_threads = True
        server.queue = self.queue  # type: ignore[attr-defined]
        server.accepting = self.accepting  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> DemandServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://{self._host}:{self._server.server_address[1]}{PATH}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def queue(self) -> TaskQueue:
        queue: TaskQueue = self.server.queue  # type: ignore[attr-defined]
        return queue

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != PATH:
            self._json(404, {"error": f"no such endpoint {self.path}"})
            return
        pending = [t.model_dump(mode="json", exclude_none=True) for t in self.queue.pending()]
        self._json(200, {"pending": pending, "counts": self.queue.counts()})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            self._json(413, {"error": f"body larger than {MAX_BODY} bytes"})
            return
        raw = self.rfile.read(length) if length > 0 else b""
        if self.path.split("?", 1)[0] != PATH:
            self._json(404, {"error": f"no such endpoint {self.path}"})
            return
        accepting: Callable[[], bool] | None = self.server.accepting  # type: ignore[attr-defined]
        if accepting is not None and not accepting():
            self._json(503, {"error": "not the leader: submit to the leading control plane"})
            return
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip()
        if content_type != "application/json":
            self._json(
                415,
                {
                    "error": f"expected Content-Type application/json, got "
                    f"{content_type or 'none'!r}"
                },
            )
            return
        try:
            batch = parse_submission_json(raw.decode("utf-8", "replace"), "POST /v1/tasks")
        except DemandError as exc:
            self._json(400, {"error": str(exc)})
            return
        try:
            ids = self.queue.submit(batch)
        except DemandError as exc:
            self._json(409, {"error": str(exc)})
            return
        self._json(201, {"accepted": ids})

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
