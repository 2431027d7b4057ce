"""The emulator's HTTP face: a threaded server on 127.0.0.1 in front of a `MasterCore`.

Request checks run in the real master's order (leader redirect 307 or 503, 405, 400 for a
missing Content-Type, 415, 400 for a bad body) so clients meet the same status codes they
would in production. SUBSCRIBE holds its connection open and writes the framework's events
as chunked RecordIO; a ticker thread drives `MasterCore.tick()` from the injected clock.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

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
    ) -> None:
        self.core = core or MasterCore(clock)
        self._port = port
        self._leader = leader
        self._redirect: str | None = None
        self._tick_interval_s = tick_interval_s
        self.max_chunk = max_chunk
        self._lifetime_s = lifetime_s
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._streams: dict[EventStream, str] = {}
        self._streams_lock = threading.Lock()

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> MesosMasterEmulator:
        server = ThreadingHTTPServer(("127.0.0.1", self._port), _Handler)
        server.daemon_threads = True
        server.emulator = self  # type: ignore[attr-defined]
        self._server = server
        self._stopping.clear()
        self._threads = [
            threading.Thread(
                target=server.serve_forever,
                args=(0.05,),
                daemon=True,
                name=f"mesos-emulator-{self.port}",
            ),
            threading.Thread(target=self._tick_loop, daemon=True, name="mesos-emulator-tick"),
        ]
        for thread in self._threads:
            thread.start()
        if self._leader:
            self.core.address = self.address
        return self

    def stop(self) -> None:
        """Close every stream, stop serving and free the port. Safe to call twice."""
        self._stopping.set()
        self._close_my_streams()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> MesosMasterEmulator:
        return self.start() if self._server is None else self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return int(self._server.server_address[1])

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
            self.core.stream_closed(framework_id, stream)

    def serve_stream(self, handler: _Handler, framework_id: str, stream: EventStream) -> None:
        with self._streams_lock:
            self._streams[stream] = framework_id
        try:
            while not self._stopping.is_set():
                records = stream.take(0.1)
                if records is None:
                    handler.wfile.write(b"0\r\n\r\n")
                    break
                for record in records:
                    self._write_record(handler, record)
                handler.wfile.flush()
                if _peer_closed(handler.connection):
                    break
        except OSError as exc:
            log.debug("stream of %s ended: %s", framework_id, exc)
        finally:
            with self._streams_lock:
                self._streams.pop(stream, None)
            self.core.stream_closed(framework_id, stream)

    def _write_record(self, handler: _Handler, record: bytes) -> None:
        size = self.max_chunk or len(record)
        for start in range(0, len(record), size):
            piece = record[start : start + size]
            handler.wfile.write(f"{len(piece):x}\r\n".encode("ascii") + piece + b"\r\n")

    def _tick_loop(self) -> None:
        deadline = None
        if self._lifetime_s is not None:
            deadline = self.core.clock.now() + self._lifetime_s
        while not self._stopping.wait(self._tick_interval_s):
            if self._leader:
                try:
                    self.core.tick()
                except Exception:
                    log.exception("emulator tick failed")
            if deadline is not None and self.core.clock.now() >= deadline:
                log.info("emulator on %s reached its lifetime; stopping", self.address)
                threading.Thread(target=self.stop, daemon=True).start()
                return


def _peer_closed(conn: socket.socket) -> bool:
    """True when the client has closed its end (readable with nothing to read)."""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Mesos-emulator/1.11.0"

    @property
    def emulator(self) -> MesosMasterEmulator:
        emulator: MesosMasterEmulator = self.server.emulator  # type: ignore[attr-defined]
        return emulator

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/version":
            self._reply(200, VERSION)
        elif path in STATE_PATHS:
            if self._redirected(path):
                return
            self._reply(200, operator_calls.legacy_state(self.emulator.core, self.emulator.address))
        elif path == "/health":
            self._reply(200, None)
        else:
            self._api("GET")

    def do_POST(self) -> None:
        self._api("POST")

    def do_PUT(self) -> None:
        self._api("PUT")

    def do_DELETE(self) -> None:
        self._api("DELETE")

    def _api(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            self._text(400, "Bad Content-Length")
            return
        raw = self.rfile.read(length) if length > 0 else b""
        if path != SCHEDULER_PATH and path not in OPERATOR_PATHS:
            self._text(404, f"no such endpoint {path}")
            return
        if self._redirected(path):
            return
        if method != "POST":
            self._text(405, f"Expecting one of {{ 'POST' }}, but received '{method}'")
            return
        content_type = self.headers.get("Content-Type")
        if content_type is None:
            self._text(400, "Expecting 'Content-Type' to be present")
            return
        if content_type not in CONTENT_TYPES:
            self._text(
                415,
                f"Expecting 'Content-Type' of application/json or "
                f"application/x-protobuf, got '{content_type}'",
            )
            return
        if content_type == "application/x-protobuf":
            self._text(415, "this emulator speaks application/json only")
            return
        try:
            call = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            self._text(400, f"Failed to parse body into JSON: {exc}")
            return
        try:
            if path == SCHEDULER_PATH:
                self._scheduler(call)
            else:
                reply = operator_calls.handle(self.emulator.core, call)
                self._reply(200, reply)
        except CallError as err:
            self._text(err.status, err.message)
        except Exception as exc:
            # An emulator bug, not a client error: say so loudly, as a master's 500 would.
            log.exception("emulator failed on %s", path)
            self._text(500, f"emulator error: {exc!r}")

    def _redirected(self, path: str) -> bool:
        if self.emulator.is_leader:
            return False
        leader = self.emulator.leader_location()
        if leader is None:
            self._text(503, "No leader elected")
        else:
            self.send_response(307)
            self.send_header("Location", f"//{leader}{path}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        return True

    def _scheduler(self, call: Any) -> None:
        kind = scheduler_calls.validate_call(call)
        stream_id = self.headers.get("Mesos-Stream-Id")
        if kind != "SUBSCRIBE":
            scheduler_calls.handle(self.emulator.core, call, stream_id)
            self._text(202, "")
            return
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
            fw, stream = self.emulator.core.subscribe(info, framework_id or info_id)
        except SubscribeRefusedError as refused:
            fw_id, stream = str(framework_id or info_id), refused.stream
        else:
            fw_id = fw.id
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Mesos-Stream-Id", stream.stream_id)
        self.send_header("Connection", "close")
        self.end_headers()
        self.emulator.serve_stream(self, fw_id, stream)

    def _reply(self, status: int, body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _text(self, status: int, message: str) -> None:
        data = message.encode("utf-8")
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
