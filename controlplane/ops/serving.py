"""Serve an aiohttp application from a background thread: TLS, bounded connections, deadlines.

The task API and the ops port are both reachable over a network, so both get the same
limits from one place instead of hand-written `http.server` loops: a cap on open
connections (the rest are closed at once), an absolute lifetime per connection (a client
that trickles its headers or body is cut off; asyncio holds no thread per client), a body
size cap, a TLS handshake deadline, and optional TLS from certificate and key files.
The HTTP parsing itself (Content-Length, chunked bodies, header limits) is aiohttp's job.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from controlplane.config import ApiAccess

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """What one server allows a client."""

    #: Open connections at once; a connection beyond it is closed without a reply.
    max_connections: int = 256
    #: A connection is closed this long after it opened, whatever it is doing (None: never,
    #: for long-lived streams such as the Mesos emulator's event streams).
    connection_deadline_s: float | None = 30.0
    #: An idle keep-alive connection is closed after this.
    keepalive_s: float = 5.0
    #: Largest request body read (aiohttp answers 413 beyond it).
    max_body_bytes: int = 1024 * 1024
    tls_handshake_s: float = 10.0
    #: Threads for blocking work handed off the event loop (`in_thread`).
    workers: int = 8


@dataclass(frozen=True)
class TlsFiles:
    """A PEM certificate chain and its private key."""

    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


class _GuardedSite(web.SockSite):
    """A site whose connections are counted and given a deadline."""

    def __init__(
        self, runner: web.BaseRunner, sock: socket.socket, limits: Limits, **kw: Any
    ) -> None:
        super().__init__(runner, sock, **kw)
        self._limits = limits
        self._open = 0

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with the runner
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None

        def factory() -> asyncio.BaseProtocol:
            proto: asyncio.BaseProtocol = self._guard(server(), loop)
            return proto

        self._server = await loop.create_server(
            factory,
            sock=self._sock,
            ssl=self._ssl_context,
            backlog=self._backlog,
            ssl_handshake_timeout=self._limits.tls_handshake_s if self._ssl_context else None,
        )

    def _guard(self, proto: Any, loop: asyncio.AbstractEventLoop) -> _Guarded:
        return _Guarded(proto, self, loop)


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol, counted against the site's cap and closed at its deadline."""

    def __init__(self, inner: Any, site: _GuardedSite, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._site = site
        self._loop = loop
        self._deadline: asyncio.TimerHandle | None = None
        self._served = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        site = self._site
        site._open += 1
        assert isinstance(transport, asyncio.Transport)
        if site._open > site._limits.max_connections:
            transport.abort()  # connection_lost follows and counts it down
            return
        deadline = site._limits.connection_deadline_s
        if deadline is not None:
            self._deadline = self._loop.call_later(deadline, transport.abort)
        self._served = True
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._site._open -= 1
        if not self._served:
            return  # refused at the cap: aiohttp never saw it
        if self._deadline is not None:
            self._deadline.cancel()
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self._inner.eof_received()
        return result

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class HttpService:
    """One aiohttp application on `host:port` (0: a free port) in a daemon thread;
    `routes(app)` adds the handlers."""

    def __init__(
        self,
        routes: Callable[[web.Application], None],
        *,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsFiles | None = None,
        limits: Limits | None = None,
    ) -> None:
        self._routes = routes
        self.name = name
        self._host, self._port = host, port
        self._tls = tls
        self.limits = limits or Limits()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._bound: int | None = None

    def start(self) -> HttpService:
        """Bind (errors raise here, in the caller's thread), then serve in the background."""
        ctx = self._tls.context() if self._tls is not None else None
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._bound = int(sock.getsockname()[1])
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            app = web.Application(client_max_size=self.limits.max_body_bytes)
            self._routes(app)
            runner = web.AppRunner(
                app,
                handle_signals=False,
                access_log=None,
                keepalive_timeout=self.limits.keepalive_s,
                shutdown_timeout=2.0,
            )
            await runner.setup()
            await _GuardedSite(runner, sock, self.limits, ssl_context=ctx).start()
            self._runner = runner

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.set_default_executor(
                ThreadPoolExecutor(self.limits.workers, thread_name_prefix=self.name)
            )
            try:
                loop.run_until_complete(serve())
            except BaseException as error:  # reported to start(), which raises it
                failure.append(error)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            self.stop()
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread, runner = self._loop, self._thread, self._runner
        self._loop = self._thread = self._runner = None
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if runner is not None:
                await runner.cleanup()
            loop.stop()

        if loop.is_running():
            asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(timeout=10)
        if not loop.is_running():
            loop.close()

    @property
    def port(self) -> int:
        assert self._bound is not None, "server not started"
        return self._bound

    @property
    def address(self) -> str:
        return f"{self._host}:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self._tls is not None else "http"

    def __enter__(self) -> HttpService:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


async def in_thread(fn: Callable[[], T]) -> T:
    """Run blocking work (DynamoDB, locks) off the event loop, in the loop's bounded pool."""
    return await asyncio.get_running_loop().run_in_executor(None, fn)


def from_access(access: ApiAccess, *, max_body_bytes: int) -> tuple[TlsFiles | None, Limits]:
    """TLS files and connection limits of an API from its access settings."""
    tls = (
        TlsFiles(access.tls_cert, access.tls_key)
        if access.tls_cert is not None and access.tls_key is not None
        else None
    )
    limits = Limits(
        max_connections=access.max_connections,
        connection_deadline_s=access.connection_timeout_s,
        max_body_bytes=max_body_bytes,
    )
    return tls, limits
