"""Keep each pass's snapshot, plan and actions as files a user can replay.

`controlplane plan <dir>/<stamp>-snapshot.json` gives back the same plan byte for byte (the
planner is deterministic), which is how an operator asks "why did it do that?" after the
fact. Only the newest `keep` passes are kept.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from controlplane.aws.actions import ActionResult
from controlplane.formats.plan_text import plan_json
from controlplane.model import Plan, Snapshot

_SUFFIXES = ("-snapshot.json", "-plan.json", "-actions.json")


class PassRecorder:
    """Writes `<stamp>-snapshot.json`, `<stamp>-plan.json`, `<stamp>-actions.json`."""

    def __init__(self, directory: Path, keep: int = 200) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.directory = directory
        self.keep = keep

    def record(
        self, now: datetime, snapshot: Snapshot, plan: Plan, actions: Sequence[ActionResult]
    ) -> Path:
        """Write one pass atomically (each file via a temporary name); returns the snapshot."""
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
        snap = self.directory / f"{stamp}-snapshot.json"
        _write(snap, snapshot.model_dump_json(indent=2, exclude_none=True) + "\n")
        _write(self.directory / f"{stamp}-plan.json", plan_json(plan))
        body = json.dumps([asdict(a) for a in actions], indent=2, ensure_ascii=False)
        _write(self.directory / f"{stamp}-actions.json", body + "\n")
        self._prune()
        return snap

    def _prune(self) -> None:
        stamps = sorted(
            {p.name.removesuffix(_SUFFIXES[0]) for p in self.directory.glob("*" + _SUFFIXES[0])}
        )
        for stamp in stamps[: max(0, len(stamps) - self.keep)]:
            for suffix in _SUFFIXES:
                (self.directory / f"{stamp}{suffix}").unlink(missing_ok=True)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
