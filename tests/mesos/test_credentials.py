"""Mesos credentials from the configuration reach the master as HTTP basic auth."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from controlplane.config import load_settings
from controlplane.mesos.operator_client import OperatorClient


class _Master(BaseHTTPRequestHandler):
    seen: ClassVar[list[str | None]] = []

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Master.seen.append(self.headers.get("Authorization"))
        body = json.dumps({"type": "GET_AGENTS", "get_agents": {"agents": []}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def master() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Master)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    _Master.seen = []
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_principal_and_secret_go_as_basic_auth(master: str) -> None:
    settings = load_settings(
        None, cluster="c", mesos={"masters": [master], "principal": "cp", "secret": "s3:cret"}
    )
    client = OperatorClient(settings.mesos.masters, credentials=settings.mesos.credentials())
    assert client.agents_only() == []
    assert _Master.seen == ["Basic " + base64.b64encode(b"cp:s3:cret").decode()]
    OperatorClient([master]).agents_only()
    assert _Master.seen[-1] is None  # no credentials configured: no header
