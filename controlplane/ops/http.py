"""`GET /metrics` (Prometheus text) and `GET /healthz` on one port, in a daemon thread."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from controlplane.ops.health import Health

log = logging.getLogger(__name__)


class OpsServer:
    """Serves a registry's metrics and a health callable; port 0 picks a free port."""

    def __init__(
        self,
        registry: CollectorRegistry,
        health: Callable[[], Health],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.registry = registry
        self.health = health
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> OpsServer:
        server = ThreadingHTTPServer((self._host, self._port), _Handler)
        server.daemon_threads = True
        server.ops = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="ops-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        return f"{self._host}:{self.port}"

    def __enter__(self) -> OpsServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    @property
    def ops(self) -> OpsServer:
        ops: OpsServer = self.server.ops  # type: ignore[attr-defined]
        return ops

    def do_GET(self) -> None:
        self._get(body=True)

    def do_HEAD(self) -> None:
        self._get(body=False)

    def do_POST(self) -> None:
        self._send(405, "application/json", b'{"error": "method not allowed"}', True)

    do_PUT = do_DELETE = do_POST  # noqa: N815 (http.server method names)

    def _get(self, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(self.ops.registry), body)
        elif path == "/healthz":
            try:
                health = self.ops.health()
                status = 200 if health.ok else 503
                data = {"status": "ok" if health.ok else "unhealthy", **health.detail}
            except Exception as error:  # a broken check is unhealthy, not a dead server
                log.exception("health check failed")
                status, data = 503, {"status": "unhealthy", "error": str(error)}
            text = json.dumps(data, default=str).encode()
            self._send(status, "application/json", text, body)
        else:
            self._send(404, "application/json", b'{"error": "no such endpoint"}', body)

    def _send(self, status: int, kind: str, data: bytes, body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)
