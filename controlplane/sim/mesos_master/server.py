"""The emulator's HTTP face on 127.0.0.1 in front of a `MasterCore`, served like the
control plane's own APIs (`controlplane.ops.serving`, aiohttp).

Request checks run in the real master's order (leader redirect 307 or 503, 405, 400 for a
missing Content-Type, 415, 400 for a bad body) so clients meet the same status codes they
would in production. SUBSCRIBE holds its connection open and writes the framework's events
as chunked RecordIO; a ticker thread drives `MasterCore.tick()` from the injected clock.
"""

from __future__ import annotations

import json
import logging
import threading
from types import TracebackType
from typing import Any

from aiohttp import web

from controlplane.ops.serving import HttpService, Limits, in_thread
from controlplane.sim.clock import Clock
from controlplane.sim.mesos_master import operator_calls, scheduler_calls
from controlplane.sim.mesos_master.core import MasterCore, SubscribeRefusedError
from controlplane.sim.mesos_master.errors import CallError
from controlplane.sim.mesos_master.state import EventStream

log = logging.getLogger(__name__)
SCHEDULER_PATH = "/api/v1/scheduler"
OPERATOR_PATHS = frozenset({"/api/v1", "/master/api/v1", "/api/v1/operator"})
STATE_PATHS = frozenset({"/master/state", "/master/state.json", "/state", "/state.json"})
CONTENT_TYPES = frozenset({"application/json", "application/x-protobuf"})
VERSION = {
    "version": "1.11.0",
    "build_date": "2020-11-24 00:00:00",
    "build_user": "emulator",
    "git_sha": "0000000000000000000000000000000000000000",
}


class MesosMasterEmulator:
    """A Mesos master on a free loopback port. Use as a context manager or start()/stop().

    Several emulators may share one `core`: the leader serves it, standbys answer 307 with
    the leader's address (or 503 while there is none), which is how failover is tested.
    """

    def __init__(
        self,
        core: MasterCore | None = None,
        *,
        clock: Clock | None = None,
        port: int = 0,
        leader: bool = True,
        tick_interval_s: float = 0.02,
        max_chunk: int | None = None,
        lifetime_s: float | None = None,
        ticks: bool = True,
    ) -> None:
        self.core = core or MasterCore(clock)
        self._port = port
        self._leader = leader
        self._redirect: str | None = None
        self._tick_interval_s = tick_interval_s
        #: False: only the owner calls `core.tick()` (a replay on a virtual clock, so offers
        #: are made at the points it chooses, not whenever this thread wakes).
        self._ticks = ticks
        self.max_chunk = max_chunk
        self._lifetime_s = lifetime_s
        self._service: HttpService | None = None
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()
        self._streams: dict[EventStream, str | None] = {}
        self._streams_lock = threading.Lock()

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> MesosMasterEmulator:
        # Scheduler streams live as long as their framework: no connection deadline; a
        # GET_STATE of a large cluster is big.
        limits = Limits(
            max_connections=4096,
            connection_deadline_s=None,
            keepalive_s=75.0,
            max_body_bytes=64 * 1024 * 1024,
            workers=32,
        )
        service = HttpService(
            self._routes, name="mesos-emulator", host="127.0.0.1", port=self._port, limits=limits
        )
        self._stopping.clear()
        self._service = service.start()
        self._ticker = threading.Thread(
            target=self._tick_loop, daemon=True, name="mesos-emulator-tick"
        )
        self._ticker.start()
        if self._leader:
            self.core.address = self.address
        return self

    def stop(self) -> None:
        """Close every stream, stop serving and free the port. Safe to call twice."""
        self._stopping.set()
        self._close_my_streams()
        service, self._service = self._service, None
        if service is not None:
            service.stop()
        ticker, self._ticker = self._ticker, None
        if ticker is not None and ticker is not threading.current_thread():
            ticker.join(timeout=5)

    def __enter__(self) -> MesosMasterEmulator:
        return self.start() if self._service is None else self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._service is not None

    @property
    def port(self) -> int:
        return self._port if self._service is None else self._service.port

    @property
    def address(self) -> str:
        """`127.0.0.1:<port>`: what pymesos and the operator client take as the master."""
        return f"127.0.0.1:{self.port}"

    @property
    def is_leader(self) -> bool:
        return self._leader

    def become_standby(self, leader_address: str | None) -> None:
        """Step down: end this master's streams; redirect to `leader_address` (None: 503)."""
        self._leader = False
        self._redirect = leader_address
        self._close_my_streams()

    def become_leader(self) -> None:
        self._leader = True
        self._redirect = None
        self.core.address = self.address
        self.core.request_allocation()

    def leader_location(self) -> str | None:
        return self._redirect

    # ---- streams and ticks --------------------------------------------------------------

    def _close_my_streams(self) -> None:
        with self._streams_lock:
            streams = list(self._streams.items())
        for stream, framework_id in streams:
            self._closed(stream, framework_id)

    async def _serve_stream(
        self,
        request: web.Request,
        reply: web.StreamResponse,
        framework_id: str | None,
        stream: EventStream,
    ) -> None:
        """Write a stream's records until it closes or the client goes (`framework_id`
        None: an operator subscriber's stream, closed with nobody to tell)."""
        with self._streams_lock:
            self._streams[stream] = framework_id
        try:
            while not self._stopping.is_set():
                records = await in_thread(lambda: stream.take(0.1))
                if records is None:
                    await reply.write_eof()
                    break
                for record in records:
                    size = self.max_chunk or len(record)
                    for start in range(0, len(record), size):
                        await reply.write(record[start : start + size])  # one chunk each
                transport = request.transport
                if transport is None or transport.is_closing():
                    break
        except (ConnectionError, RuntimeError) as exc:
            log.debug("stream of %s ended: %s", framework_id, exc)
        finally:
            with self._streams_lock:
                self._streams.pop(stream, None)
            self._closed(stream, framework_id)

    def _closed(self, stream: EventStream, framework_id: str | None) -> None:
        """A stream ended: a framework's is the core's business (offers go back, failover
        starts); an operator subscriber's is closed with nobody to tell."""
        if framework_id is None:
            stream.close()
        else:
            self.core.stream_closed(framework_id, stream)

    def _tick_loop(self) -> None:
        deadline = None
        if self._lifetime_s is not None:
            deadline = self.core.clock.now() + self._lifetime_s
        while not self._stopping.wait(self._tick_interval_s):
            if self._leader and self._ticks:
                try:
                    self.core.tick()
                except Exception:
                    log.exception("emulator tick failed")
            if deadline is not None and self.core.clock.now() >= deadline:
                log.info("emulator on %s reached its lifetime; stopping", self.address)
                threading.Thread(target=self.stop, daemon=True).start()
                return

    # ---- HTTP ---------------------------------------------------------------------------

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._request)

    async def _request(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if request.method in {"GET", "HEAD"}:
            if path == "/version":
                return _json(200, VERSION)
            if path in STATE_PATHS:
                redirect = self._redirected(path)
                if redirect is not None:
                    return redirect
                state = await in_thread(
                    lambda: operator_calls.legacy_state(self.core, self.address)
                )
                return _json(200, state)
            if path == "/health":
                return _json(200, None)
        raw = await request.read()
        if path != SCHEDULER_PATH and path not in OPERATOR_PATHS:
            return _text(404, f"no such endpoint {path}")
        redirect = self._redirected(path)
        if redirect is not None:
            return redirect
        if request.method != "POST":
            return _text(405, f"Expecting one of {{ 'POST' }}, but received '{request.method}'")
        content_type = request.headers.get("Content-Type")
        if content_type is None:
            return _text(400, "Expecting 'Content-Type' to be present")
        if content_type not in CONTENT_TYPES:
            return _text(
                415,
                f"Expecting 'Content-Type' of application/json or "
                f"application/x-protobuf, got '{content_type}'",
            )
        if content_type == "application/x-protobuf":
            return _text(415, "this emulator speaks application/json only")
        try:
            call = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return _text(400, f"Failed to parse body into JSON: {exc}")
        try:
            if path == SCHEDULER_PATH:
                return await self._scheduler(request, call)
            if isinstance(call, dict) and call.get("type") == "SUBSCRIBE":
                return await self._watch(request)
            reply = await in_thread(lambda: operator_calls.handle(self.core, call))
            return _json(200, reply)
        except CallError as err:
            return _text(err.status, err.message)
        except Exception as exc:
            # An emulator bug, not a client error: say so loudly, as a master's 500 would.
            log.exception("emulator failed on %s", path)
            return _text(500, f"emulator error: {exc!r}")

    def _redirected(self, path: str) -> web.Response | None:
        if self.is_leader:
            return None
        leader = self.leader_location()
        if leader is None:
            return _text(503, "No leader elected")
        return web.Response(status=307, headers={"Location": f"//{leader}{path}"})

    async def _scheduler(self, request: web.Request, call: Any) -> web.StreamResponse:
        kind = scheduler_calls.validate_call(call)
        stream_id = request.headers.get("Mesos-Stream-Id")
        if kind != "SUBSCRIBE":
            await in_thread(lambda: scheduler_calls.handle(self.core, call, stream_id))
            return _text(202, "")
        if stream_id is not None:
            raise CallError(400, "Expecting 'Mesos-Stream-Id' header not to be present")
        info = call.get("subscribe", {}).get("framework_info")
        if not isinstance(info, dict) or not info.get("user") or not info.get("name"):
            raise CallError(400, "Expecting 'subscribe.framework_info' with 'user' and 'name'")
        framework_id = (call.get("framework_id") or {}).get("value")
        info_id = (info.get("id") or {}).get("value")
        if framework_id is not None and info_id is not None and framework_id != info_id:
            raise CallError(400, "'framework_id' differs from 'subscribe.framework_info.id'")
        try:
            fw, stream = self.core.subscribe(info, framework_id or info_id)
        except SubscribeRefusedError as refused:
            fw_id, stream = str(framework_id or info_id), refused.stream
        else:
            fw_id = fw.id
        reply = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "application/json",
                "Mesos-Stream-Id": stream.stream_id,
            },
        )
        reply.force_close()  # the stream is the connection's last exchange
        reply.enable_chunked_encoding()
        await reply.prepare(request)
        await self._serve_stream(request, reply, fw_id, stream)
        return reply

    async def _watch(self, request: web.Request) -> web.StreamResponse:
        """The operator API's SUBSCRIBE: a chunked RecordIO stream of master events."""
        stream = await in_thread(lambda: operator_calls.subscribe(self.core))
        reply = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        reply.force_close()
        reply.enable_chunked_encoding()
        await reply.prepare(request)
        await self._serve_stream(request, reply, None, stream)
        return reply


def _json(status: int, body: Any) -> web.Response:
    if body is None:
        return web.Response(status=status)
    return web.Response(
        status=status, body=json.dumps(body).encode("utf-8"), content_type="application/json"
    )


def _text(status: int, message: str) -> web.Response:
    if not message:
        return web.Response(status=status)
    return web.Response(status=status, text=message, content_type="text/plain")
