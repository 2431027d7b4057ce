"""The `controlplane` command: plan a snapshot file (more drivers join as they land)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from controlplane.errors import InputError, describe
from controlplane.model import Snapshot
from controlplane.planning import plan
from controlplane.render import plan_json, plan_table


def load_snapshot(path: str) -> Snapshot:
    """Read and validate a snapshot (`-` reads standard input)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    try:
        return Snapshot.model_validate_json(text)
    except ValidationError as exc:
        raise InputError(f"{'<stdin>' if path == '-' else path}: {describe(exc)}") from exc


def _cmd_plan(args: argparse.Namespace) -> int:
    snapshot = load_snapshot(args.snapshot)
    result = plan(snapshot)
    out = plan_table(result) if args.format == "table" else plan_json(result)
    sys.stdout.write(out)
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
