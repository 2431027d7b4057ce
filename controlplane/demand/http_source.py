"""A generic HTTP/JSON demand source: another framework's pending tasks.

`GET <url>` must answer `{"pending": [Task, ...], ...}` (contract v1 tasks, each strict;
other top-level keys such as counts are ignored; a bare list works too). The whole answer
is validated before any of it is used.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from pydantic import TypeAdapter, ValidationError

from controlplane.demand.errors import DemandError
from controlplane.errors import InputError, describe
from controlplane.formats.snapshot_json import parse_json
from controlplane.model import Task

_TASKS = TypeAdapter(list[Task])
#: Bytes read at most from one answer (a runaway endpoint must not exhaust memory).
MAX_BYTES = 32 * 1024 * 1024


class HttpDemandSource:
    """Pending tasks from a JSON endpoint."""

    def __init__(self, url: str, *, timeout_s: float = 10.0, token: str | None = None) -> None:
        """`token`: sent as `Authorization: Bearer` (another control plane's task API
        requires one)."""
        self.url = url
        self.timeout_s = timeout_s
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def pending(self) -> list[Task]:
        request = urllib.request.Request(self.url, headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                raw = resp.read(MAX_BYTES + 1)
        except (urllib.error.URLError, OSError) as exc:
            raise DemandError(f"{self.url}: cannot read pending tasks: {exc}") from exc
        if len(raw) > MAX_BYTES:
            raise DemandError(f"{self.url}: answer larger than {MAX_BYTES} bytes")
        try:
            data = parse_json(raw.decode("utf-8"), self.url)
        except (InputError, UnicodeDecodeError) as exc:
            raise DemandError(str(exc)) from exc
        if isinstance(data, dict):
            if "pending" not in data:
                raise DemandError(f"{self.url}: pending: missing required field")
            data = data["pending"]
        try:
            tasks = _TASKS.validate_python(data)
        except ValidationError as exc:
            raise DemandError(f"{self.url}: pending{_where(describe(exc))}") from exc
        ids = [t.id for t in tasks]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise DemandError(f"{self.url}: pending: duplicate task id {dup!r}")
        return tasks


def _where(text: str) -> str:
    return text if text.startswith("[") else f": {text}"
