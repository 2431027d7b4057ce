"""`GET /metrics` (Prometheus text) and `GET /healthz` on one port, in a daemon thread.

`/healthz` says healthy or not and whether this process leads; the reasons (which host,
which error) go to the log, never to whoever can reach the port. With `tokens`, `/metrics`
needs a bearer token (the ops port bound beyond loopback).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from controlplane.ops.health import Health
from controlplane.ops.serving import HttpService, Limits, TlsFiles, in_thread
from controlplane.ops.tokens import TokenSource, authorized

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
        tokens: TokenSource | None = None,
        tls: TlsFiles | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.registry = registry
        self.health = health
        self.tokens = tokens
        self.service = HttpService(
            self._routes,
            name="ops-http",
            host=host,
            port=port,
            tls=tls,
            limits=limits or Limits(max_body_bytes=1024),
        )

    def start(self) -> OpsServer:
        self.service.start()
        return self

    def stop(self) -> None:
        self.service.stop()

    @property
    def port(self) -> int:
        return self.service.port

    @property
    def address(self) -> str:
        return self.service.address

    def __enter__(self) -> OpsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.tokens is not None and not authorized(
            request.headers.get("Authorization"), self.tokens
        ):
            return web.Response(
                status=401,
                text='{"error": "a valid bearer token is required"}',
                content_type="application/json",
                headers={"WWW-Authenticate": 'Bearer realm="controlplane"'},
            )
        data = await in_thread(lambda: generate_latest(self.registry))
        return web.Response(body=data, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        try:
            health: Health = await asyncio.wait_for(in_thread(self.health), timeout=5)
            status = 200 if health.ok else 503
            data = {"status": "ok" if health.ok else "unhealthy", **health.public}
        except Exception:  # a broken check is unhealthy, not a dead server
            log.exception("health check failed")
            status, data = 503, {"status": "unhealthy"}
        return web.Response(
            status=status, text=json.dumps(data, default=str), content_type="application/json"
        )
