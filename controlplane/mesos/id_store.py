"""Where the framework id lives between runs, so a restarted framework fails over.

A framework that resubscribes with its old id keeps its running tasks; one that forgets it
registers anew and the master kills the old one's tasks at its failover timeout.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Protocol


class FrameworkIdStore(Protocol):
    def load(self) -> str | None: ...

    def save(self, framework_id: str) -> None: ...

    def clear(self) -> None: ...


class MemoryIdStore:
    """For tests and one-process demos."""

    def __init__(self, framework_id: str | None = None) -> None:
        self._id = framework_id
        self._lock = threading.Lock()

    def load(self) -> str | None:
        with self._lock:
            return self._id

    def save(self, framework_id: str) -> None:
        with self._lock:
            self._id = framework_id

    def clear(self) -> None:
        with self._lock:
            self._id = None


class JsonFileIdStore:
    """`{"framework_id": "..."}` in a file, replaced atomically (a crash leaves old or new)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> str | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.path}: unreadable framework id store: {exc}") from exc
        value = data.get("framework_id") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise ValueError(f'{self.path}: expected {{"framework_id": "..."}}')
        return value

    def save(self, framework_id: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"framework_id": framework_id}, out)
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
