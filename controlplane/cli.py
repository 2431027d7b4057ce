"""The `controlplane` command: plan a snapshot file (more drivers join as they land)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from controlplane.errors import InputError
from controlplane.loading import parse_snapshot
from controlplane.model import Snapshot
from controlplane.planning import plan
from controlplane.render import plan_json, plan_table


def load_snapshot(path: str) -> Snapshot:
    """Read and validate a snapshot (`-` reads standard input)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    return parse_snapshot(text, "<stdin>" if path == "-" else path)


def _cmd_plan(args: argparse.Namespace) -> int:
    snapshot = load_snapshot(args.snapshot)
    result = plan(snapshot)
    out = plan_table(result) if args.format == "table" else plan_json(result)
    return _write(out)


def _write(text: str) -> int:
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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="controlplane", description="Autoscaling control plane for Mesos on AWS."
    )
    sub = p.add_subparsers(dest="command", required=True)
    pl = sub.add_parser("plan", help="plan one snapshot (contract v1) and print the plan")
    pl.add_argument("snapshot", help="snapshot JSON file, or - for standard input")
    pl.add_argument("--format", choices=["json", "table"], default="json")
    pl.set_defaults(func=_cmd_plan)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except InputError as exc:
        print(f"controlplane: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
