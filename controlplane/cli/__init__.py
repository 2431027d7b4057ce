"""The `controlplane` command. Each command group lives in its own module and is imported
only when its command runs, so `controlplane plan` loads neither boto3 nor the emulator.

Exit codes: 0 done, 1 a pass or a call failed, 2 input the control plane will not act on
(one line on stderr), 3 another control plane holds the lease.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from controlplane.errors import InputError


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """The command `name` of `controlplane.cli.<module>`, imported when it runs."""

    def run(args: argparse.Namespace) -> int:
        command: Callable[[argparse.Namespace], int] = getattr(
            importlib.import_module(f"controlplane.cli.{module}"), name
        )
        return command(args)

    return run


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="controlplane", description="Autoscaling control plane for Mesos on AWS."
    )
    sub = p.add_subparsers(dest="command", required=True)
    pl = sub.add_parser("plan", help="plan one snapshot (contract v1) and print the plan")
    pl.add_argument("snapshot", help="snapshot JSON file, or - for standard input")
    pl.add_argument("--format", choices=["json", "table"], default="json")
    pl.set_defaults(func=_lazy("plan", "cmd_plan"), pure=True)
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
    em.set_defaults(func=_lazy("emulator", "cmd_mesos_emulator"))
    _control_commands(sub)
    _demo_command(sub)
    return p


def main(argv: Sequence[str] | None = None, *, exit_when_pure: bool = False) -> int:
    """Exit 0 done, 1 failed, 2 bad input (one line on stderr), 3 another leads.

    With `exit_when_pure` (the console script), a pure command (`plan`: nothing to release,
    no thread, no file but stdout) ends the process once its output is flushed, without the
    interpreter's teardown: freeing a 50,000-task snapshot's objects one by one took a
    quarter of the command's time. Every other command exits normally."""
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except InputError as exc:
        print(f"controlplane: error: {exc}", file=sys.stderr)
        code = 2
    except Exception as exc:
        if not _expected_failure(exc):
            raise
        print(f"controlplane: failed: {exc}", file=sys.stderr)
        code = 1
    if exit_when_pure and getattr(args, "pure", False):
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """Flush stdout and stderr, then end the process with `code` at once."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1  # output that could not be written is a failure
    os._exit(code)


def entry() -> None:
    """The `controlplane` console script and `python -m controlplane`."""
    sys.exit(main(exit_when_pure=True))


def _expected_failure(exc: Exception) -> bool:
    """An AWS, Mesos or state-store failure: one line, exit 1 (imported only now)."""
    from controlplane.aws.errors import AwsError  # noqa: PLC0415
    from controlplane.mesos.replies import MesosError  # noqa: PLC0415
    from controlplane.state.errors import StateError  # noqa: PLC0415

    return isinstance(exc, AwsError | StateError | MesosError)


def _control_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    va = sub.add_parser("validate", help="check a configuration file (and CONTROLPLANE_* env)")
    va.add_argument("config", help="TOML configuration file")
    va.set_defaults(func=_lazy("control", "cmd_validate"))
    it = sub.add_parser("init", help="create the state table if it is missing (idempotent)")
    it.add_argument("--config", required=True, help="TOML configuration file")
    it.set_defaults(func=_lazy("control", "cmd_init"))
    sn = sub.add_parser("snapshot", help="observe Mesos, AWS and demand; print the snapshot")
    sn.add_argument("--config", required=True, help="TOML configuration file")
    sn.set_defaults(func=_lazy("control", "cmd_snapshot"))
    rn = sub.add_parser("run", help="run the control plane (or one pass with --once)")
    rn.add_argument("--config", required=True, help="TOML configuration file")
    rn.add_argument("--once", action="store_true", help="one pass, print its plan, exit")
    rn.add_argument("--dry-run", action="store_true", help="log writes instead of making them")
    rn.add_argument("--format", choices=["json", "table"], default="table")
    rn.set_defaults(func=_lazy("control", "cmd_run"))


def _demo_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    de = sub.add_parser(
        "demo",
        help="replay a workload against moto + the Mesos emulator + the real daemon; report",
    )
    de.add_argument("--out", type=Path, default=Path("demo-out"), help="report directory")
    de.add_argument("--hours", type=float, help="virtual hours to replay (default 24)")
    de.add_argument("--trace", type=Path, help="Alibaba v2017 batch_task.csv or a plain CSV")
    de.add_argument("--config", type=Path, help="demo TOML (see examples/demo.toml)")
    de.add_argument("--seed", type=int, help="synthetic workload seed")
    de.add_argument(
        "--compare", action="store_true", help="run every policy in `variants` side by side"
    )
    de.add_argument(
        "--workload",
        choices=["day", "gpu"],
        default="day",
        help="the synthetic day, or the day plus GPU training jobs (adds a GPU pool)",
    )
    de.add_argument(
        "--durations",
        choices=["learned", "declared", "exact"],
        help="what the planner is told of durations (default learned; exact is clairvoyant)",
    )
    de.add_argument(
        "--max-wait",
        type=float,
        default=3600.0,
        help="exit 1 if any task waited longer (seconds; default 3600), or never started",
    )
    de.set_defaults(func=_lazy("demo", "cmd_demo"))


if __name__ == "__main__":
    entry()
