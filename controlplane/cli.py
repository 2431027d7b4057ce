"""The `controlplane` command: plan a snapshot file, run a Mesos master emulator, and
(`cli_control.py`) validate a configuration, observe a snapshot, run the control plane."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from controlplane.aws.errors import AwsError
from controlplane.cli_control import add_commands
from controlplane.demo.cli import add_demo_command
from controlplane.errors import InputError
from controlplane.loading import parse_snapshot
from controlplane.mesos.replies import MesosError
from controlplane.model import Snapshot
from controlplane.planning import plan
from controlplane.render import plan_json, plan_table
from controlplane.sim.mesos_master import MasterCore, MesosMasterEmulator
from controlplane.sim.mesos_master.agents_spec import add_agent_groups, parse_agents_spec
from controlplane.state.errors import StateError


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


def _cmd_mesos_emulator(args: argparse.Namespace) -> int:
    groups = parse_agents_spec(args.agents)
    core = MasterCore(allocation_interval_s=args.allocation_interval)
    ids = add_agent_groups(core, groups)
    try:
        emulator = MesosMasterEmulator(core, port=args.port).start()
    except OSError as exc:
        raise InputError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}") from exc
    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(
        f"mesos-emulator: master {emulator.address} (Mesos 1.11.0 API), {len(ids)} agents; "
        "Ctrl-C stops",
        flush=True,
    )
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emulator.stop()
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
    em = sub.add_parser(
        "mesos-emulator",
        help="run a Mesos master emulator (v1 scheduler and operator APIs) on 127.0.0.1",
    )
    em.add_argument("--port", type=int, default=5050, help="port (0 picks a free one)")
    em.add_argument(
        "--agents",
        default="3",
        help="a count (spread over three zones), inline JSON, or a JSON file of agent groups",
    )
    em.add_argument(
        "--allocation-interval",
        type=float,
        default=1.0,
        help="seconds between offer rounds (declined resources come back after their filter)",
    )
    em.set_defaults(func=_cmd_mesos_emulator)
    add_commands(sub)
    add_demo_command(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 done, 1 failed, 2 bad input (one line on stderr), 3 another leads."""
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except InputError as exc:
        print(f"controlplane: error: {exc}", file=sys.stderr)
        return 2
    except (AwsError, StateError, MesosError) as exc:
        print(f"controlplane: failed: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
