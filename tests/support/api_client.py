"""Talking to the task API as a client would: tokens, raw requests, a token file."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

TOKEN = "test-token-" + "x" * 40
OTHER = "other-token-" + "y" * 40


class StaticTokens:
    """A token source that never changes."""

    def __init__(self, *tokens: str) -> None:
        self._tokens = tuple(t.encode() for t in (tokens or (TOKEN,)))

    def tokens(self) -> tuple[bytes, ...]:
        return self._tokens


def token_file(directory: Path, *tokens: str) -> Path:
    path = directory / "tokens"
    path.write_text("# task API tokens\n" + "\n".join(tokens or (TOKEN,)) + "\n")
    path.chmod(0o600)
    return path


def call(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    *,
    token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """(status, JSON body or text, headers) of one request."""
    host, port = url.split("/")[2].rsplit(":", 1)
    path = "/" + url.split("/", 3)[3]
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    sent = {"Content-Type": "application/json"}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    try:
        conn.request(method, path, body=body, headers=sent)
        resp = conn.getresponse()
        raw = resp.read()
        got = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    try:
        data: Any = json.loads(raw)
    except ValueError:
        data = raw.decode("utf-8", "replace")
    return resp.status, data, got


def submit(url: str, tasks: list[dict[str, Any]], **kw: Any) -> tuple[int, Any]:
    status, data, _ = call(url, "POST", json.dumps({"tasks": tasks}).encode(), **kw)
    return status, data


_SHARED: list[Path] = []


def shared_token_file() -> Path:
    """One token file (holding `TOKEN`) for settings that need a token source."""
    if not _SHARED:
        import tempfile  # noqa: PLC0415

        _SHARED.append(token_file(Path(tempfile.mkdtemp(prefix="cp-tokens-"))))
    return _SHARED[0]
