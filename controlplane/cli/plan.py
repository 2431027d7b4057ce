"""`controlplane plan`: the pure planner on one snapshot file, nothing else loaded."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from controlplane.errors import InputError
from controlplane.formats.plan_text import plan_json, plan_table
from controlplane.formats.snapshot_json import parse_snapshot
from controlplane.model import Snapshot
from controlplane.planning import plan
from controlplane.planning.gc_pause import cyclic_gc_paused


def load_snapshot(path: str) -> Snapshot:
    """Read and validate a snapshot (`-` reads standard input)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    return parse_snapshot(text, "<stdin>" if path == "-" else path)


def cmd_plan(args: argparse.Namespace) -> int:
    # Validating 50,000 tasks and rendering their placements make objects in no cycle: the
    # cyclic collector only walks them (a third of a large snapshot's end-to-end time).
    with cyclic_gc_paused():
        snapshot = load_snapshot(args.snapshot)
        result = plan(snapshot)
        out = plan_table(result) if args.format == "table" else plan_json(result)
    return write(out)


def write(text: str) -> int:
    """Print `text`; a closed pipe or full disk is a one-line error (exit 1), not a trace."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        # Point stdout at /dev/null so the interpreter's exit-time flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        print(f"controlplane: error: cannot write the plan: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
