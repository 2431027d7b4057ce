"""The task API as an attacker and a careless client would use it: every abuse refused,
nothing queued that was not whole, valid and authenticated."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.demand.queue import TaskQueue
from controlplane.demand.server import DemandServer, SubmissionRules
from controlplane.ops.serving import Limits
from controlplane.ops.tokens import FileTokens, TokenError
from tests.support.api_client import OTHER, TOKEN, StaticTokens, call, submit, token_file
from tests.support.tls import self_signed

TASK = {"id": "a", "job": "j", "resources": {"cpus": 1, "mem": 64}, "pool": "batch"}
RULES = SubmissionRules(
    pools=lambda: {"batch", "gpu"},
    commands={"noop": ["/bin/true"], "sleep": ["sleep", "5"]},
    default_command="noop",
)


def server(queue: TaskQueue | None = None, **kw: Any) -> DemandServer:
    kw.setdefault("tokens", StaticTokens())
    kw.setdefault("rules", RULES)
    return DemandServer(queue or TaskQueue(), **kw)


@pytest.fixture
def api() -> Iterator[DemandServer]:
    with server() as srv:
        yield srv


def raw(srv: DemandServer, data: bytes, *, wait_s: float = 3.0, half_close: bool = False) -> bytes:
    """Send bytes as they are; what comes back before the server closes or `wait_s`."""
    with socket.create_connection(("127.0.0.1", srv.service.port), timeout=wait_s) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except TimeoutError:
            pass
        return out


def head(token: str = TOKEN, **headers: str) -> bytes:
    lines = ["POST /v1/tasks HTTP/1.1", "Host: x", "Connection: close"]
    lines.append(f"Authorization: Bearer {token}")
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_no_token_no_entry(api: DemandServer) -> None:
    for token in (None, "", OTHER, TOKEN[:-1], TOKEN + "x"):
        status, _data, headers = call(
            api.url, "POST", json.dumps({"tasks": [TASK]}).encode(), token=token
        )
        assert status == 401, token
        assert headers["www-authenticate"].startswith("Bearer")
        assert call(api.url, "GET", token=token)[0] == 401
    status, _, _ = call(api.url, "GET", headers={"Authorization": f"Basic {TOKEN}"}, token=None)
    assert status == 401
    assert api.queue.pending() == []
    assert submit(api.url, [TASK]) == (201, {"accepted": ["a"]})


def test_token_file_rotation_without_restart(tmp_path: Path) -> None:
    path = token_file(tmp_path, TOKEN)
    tokens = FileTokens(path)
    with server(tokens=tokens) as srv:
        assert submit(srv.url, [TASK])[0] == 201
        path.write_text(f"{TOKEN}\n{OTHER}\n")  # add the new token, move clients...
        assert submit(srv.url, [{**TASK, "id": "b"}], token=OTHER)[0] == 201
        path.write_text(f"{OTHER}\n")  # ...then retire the old one
        time.sleep(0.01)
        assert submit(srv.url, [{**TASK, "id": "c"}], token=TOKEN)[0] == 401
        assert submit(srv.url, [{**TASK, "id": "c"}], token=OTHER)[0] == 201


@pytest.mark.parametrize(
    ("text", "mode", "message"),
    [
        (TOKEN, 0o644, "readable by group or others"),
        ("short", 0o600, "at least 32"),
        ("# only a comment", 0o600, "holds no token"),
    ],
)
def test_bad_token_files_refused_at_start(
    tmp_path: Path, text: str, mode: int, message: str
) -> None:
    path = tmp_path / "tokens"
    path.write_text(text + "\n")
    path.chmod(mode)
    with pytest.raises(TokenError, match=message):
        FileTokens(path)
    with pytest.raises(TokenError, match="cannot read"):
        FileTokens(tmp_path / "missing")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (
            head(Content_Type="application/json", Transfer_Encoding="chunked")
            + b'4\r\n{"ta\r\n0\r\n\r\n',
            b"411",
        ),
        (head(Content_Type="application/json"), b"411"),
        (head(Content_Type="application/json", Content_Length="abc") + b"{}", b"400"),
        (head(Content_Type="application/json", Content_Length="2000000") + b"{}", b"413"),
        (head(Content_Type="text/plain", Content_Length="2") + b"{}", b"415"),
    ],
)
def test_malformed_requests(api: DemandServer, request_bytes: bytes, status: bytes) -> None:
    reply = raw(api, request_bytes)
    assert reply.split(b" ", 2)[1:2] == [status], reply[:300]
    assert api.queue.pending() == []


def test_a_body_cut_short_queues_nothing(api: DemandServer) -> None:
    body = json.dumps({"tasks": [TASK]}).encode()
    request = head(Content_Type="application/json", Content_Length="500") + body
    reply = raw(api, request, half_close=True)  # the client stops sending, 500 bytes owed
    assert reply == b"" or reply.split(b" ", 2)[1] == b"400"
    assert api.queue.pending() == []


def test_a_body_that_never_arrives_times_out_and_queues_nothing() -> None:
    with server(body_timeout_s=0.5) as srv:
        body = json.dumps({"tasks": [TASK]}).encode()
        with socket.create_connection(("127.0.0.1", srv.service.port), timeout=5) as sock:
            sock.sendall(head(Content_Type="application/json", Content_Length=str(len(body) + 9)))
            sock.sendall(body)  # 9 bytes short, and the connection stays open
            reply = sock.recv(65536)
        assert reply.split(b" ", 2)[1] == b"408"
        assert srv.queue.pending() == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"tasks": [{"id": "\xff", "resources": {"cpus": 1}}]}', "not UTF-8"),
        (json.dumps({"tasks": [{**TASK, "pool": "nope"}]}).encode(), "unknown pool 'nope'"),
        (json.dumps({"tasks": [{**TASK, "resources": {}}]}).encode(), "at least one resource"),
        (json.dumps({"tasks": [{**TASK, "resources": {"cpus": 0}}]}).encode(), "at least one"),
        (json.dumps({"tasks": [{**TASK, "command": "rm -rf /"}]}).encode(), "command"),
        (json.dumps({"tasks": [{**TASK, "command": "curl"}]}).encode(), "not an allowed"),
        (json.dumps({"tasks": [TASK]}).encode(), "name one of: noop, sleep"),
        (json.dumps({"tasks": []}).encode(), "an empty batch"),
        (
            json.dumps({"tasks": [{**TASK, "id": f"t{i}"} for i in range(100)]}).encode(),
            "at most 99",
        ),
        (
            json.dumps({"tasks": [{**TASK, "labels": {str(i): "v" for i in range(33)}}]}).encode(),
            "labels",
        ),
    ],
)
def test_invalid_tasks_are_refused_with_the_reason(body: bytes, message: str) -> None:
    rules = SubmissionRules(pools=RULES.pools, commands=RULES.commands)
    with server(rules=rules) as srv:
        status, data, _ = call(srv.url, "POST", body)
        assert status == 400 and message in data["error"], data
        assert srv.queue.pending() == []


def test_unknown_pools_wait_until_the_pools_are_known() -> None:
    with server(rules=SubmissionRules(commands=RULES.commands, default_command="noop")) as srv:
        status, data = submit(srv.url, [TASK])
        assert status == 400 and "none observed yet" in data["error"]
        assert submit(srv.url, [{**TASK, "pool": None}])[0] == 201  # no pool: any will do


def test_a_full_queue_answers_429_with_retry_after() -> None:
    rules = RULES
    with server(TaskQueue(max_queued=3), rules=rules) as srv:
        assert submit(srv.url, [{**TASK, "id": f"t{i}"} for i in range(3)])[0] == 201
        status, data, headers = call(srv.url, "POST", json.dumps({"tasks": [TASK]}).encode())
        assert status == 429 and "cap of 3" in data["error"]
        assert int(headers["retry-after"]) > 0
        assert len(srv.queue.pending()) == 3


def test_a_standby_answers_503_with_retry_after() -> None:
    rules = RULES
    with server(rules=rules, not_accepting=lambda: "not the leader") as srv:
        status, data, headers = call(srv.url, "POST", json.dumps({"tasks": [TASK]}).encode())
        assert status == 503 and "not the leader" in data["error"]
        assert "retry-after" in headers


def test_slow_clients_hold_no_threads_and_are_cut_off() -> None:
    limits = Limits(max_connections=1100, connection_deadline_s=2.0)
    rules = RULES
    with server(limits=limits, rules=rules) as srv:
        threads = threading.active_count()
        slow = []
        for _ in range(1000):
            sock = socket.create_connection(("127.0.0.1", srv.service.port), timeout=5)
            sock.sendall(b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\n")  # and never more
            slow.append(sock)
        try:
            assert threading.active_count() <= threads + 8  # no thread per client
            started = time.monotonic()
            assert submit(srv.url, [TASK])[0] == 201  # a real client is still served
            assert time.monotonic() - started < 2
            slow[0].settimeout(5)
            assert slow[0].recv(1024) == b""  # closed at the deadline
        finally:
            for sock in slow:
                sock.close()


def test_connections_past_the_cap_are_closed() -> None:
    with server(limits=Limits(max_connections=5, connection_deadline_s=5)) as srv:
        held = [socket.create_connection(("127.0.0.1", srv.service.port)) for _ in range(5)]
        try:
            time.sleep(0.2)
            with socket.create_connection(("127.0.0.1", srv.service.port), timeout=5) as extra:
                extra.sendall(b"GET /v1/tasks HTTP/1.1\r\nHost: x\r\n\r\n")
                with pytest.raises(ConnectionResetError):
                    if extra.recv(1024) == b"":
                        raise ConnectionResetError
        finally:
            for sock in held:
                sock.close()


def test_tls_serves_https_only(tmp_path: Path) -> None:
    tls = self_signed(tmp_path)
    rules = RULES
    with server(tls=tls, rules=rules) as srv:
        assert srv.url.startswith("https://")
        ctx = ssl.create_default_context(cafile=str(tls.cert))
        import http.client  # noqa: PLC0415

        conn = http.client.HTTPSConnection("127.0.0.1", srv.service.port, context=ctx, timeout=5)
        body = json.dumps({"tasks": [TASK]})
        conn.request(
            "POST",
            "/v1/tasks",
            body=body,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        assert conn.getresponse().status == 201
        conn.close()
        reply = raw(srv, head(Content_Type="application/json", Content_Length="2") + b"{}")
        assert not reply.startswith(b"HTTP/1.1 2")  # plain HTTP gets no answer it can use
