"""`controlplane validate | snapshot | run`: the operator's seams into the control loop.

`validate` says what is wrong with a configuration, field by field. `init` creates the
state table (idempotent). `snapshot` observes only (no lease, no write) and prints the
contract v1 snapshot a pass would plan on. `run --once` takes the lease, runs exactly one
pass and prints the plan it acted on; `run` is the daemon.

Exit codes (every command): 0 done; 1 a pass or a call failed; 2 input the control plane will
not act on (a bad file, setting or reply; a missing state table); 3 another control plane
holds the lease.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from controlplane.config import ConfigError, Settings, load_settings
from controlplane.errors import InputError
from controlplane.formats.plan_text import plan_json, plan_table


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    return load_settings(args.config, **overrides)


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        problems = settings.daemon_problems()
        if problems:
            raise ConfigError(args.config, problems)
    except ConfigError as error:
        print(f"{error.source}: invalid ({len(error.problems)} problems)", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    pools = ", ".join(sorted(settings.pools)) or "none (rules from default_rules)"
    print(
        f"{args.config}: ok: cluster {settings.cluster}, masters "
        f"{', '.join(settings.mesos.masters)}, region {settings.aws.region}, "
        f"pools with own rules: {pools}, pass every {settings.loop.interval_s:g}s"
        + (", DRY RUN" if settings.dry_run else "")
    )
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from controlplane.control.reconcile import StageError  # noqa: PLC0415 (boto3 only when used)
    from controlplane.control.wiring import build  # noqa: PLC0415

    parts = build(_settings(args), dry_run=True)
    try:
        seen = parts.reconciler.observe()
    except StageError as error:
        raise InputError(f"cannot observe ({error.stage}): {error.cause}") from None
    print(seen.snapshot.model_dump_json(indent=2, exclude_none=True))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {"dry_run": True} if args.dry_run else {}
    settings = _settings(args, **overrides)
    if args.once:
        return _run_once(settings, args.format)
    return _run_daemon(settings)


EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_LEADS = 0, 1, 2, 3


def cmd_init(args: argparse.Namespace) -> int:
    from controlplane.control.wiring import build  # noqa: PLC0415 (boto3 only when used)

    settings = _settings(args)
    store = build(settings, dry_run=True).store
    created = store.create_table()
    what = "created" if created else "exists already"
    print(f"state table {store.table} ({settings.aws.region}): {what}")
    return EXIT_OK


def _run_once(settings: Settings, fmt: str) -> int:
    from controlplane.control.wiring import (  # noqa: PLC0415
        LeaderElsewhere,
        build,
        one_pass,
        utc_now,
    )
    from controlplane.state import default_holder  # noqa: PLC0415

    result = one_pass(build(settings), f"once:{default_holder()}", utc_now())
    if isinstance(result, LeaderElsewhere):
        print(f"controlplane: {result.holder} holds the lease; not acting", file=sys.stderr)
        return EXIT_LEADS
    if result.outcome != "ok" or result.plan is None:
        print(
            f"controlplane: pass {result.outcome} at {result.stage}: {result.error}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    sys.stdout.write(plan_table(result.plan) if fmt == "table" else plan_json(result.plan))
    actions = [a for a in result.actions if a.outcome != "skipped" or fmt == "table"]
    if fmt == "table" and actions:
        print("\nACTIONS")
        for a in actions:
            print(f"  {a.outcome:8} {a.kind:10} {a.asg:24} {a.instance_id or '':20} {a.detail}")
    elif fmt == "json":
        print(json.dumps({"actions": [a.__dict__ for a in actions]}, indent=2), file=sys.stderr)
    return 0


def _run_daemon(settings: Settings) -> int:
    from controlplane.control.daemon import Daemon  # noqa: PLC0415
    from controlplane.ops.logs import configure_logging  # noqa: PLC0415

    configure_logging(settings.ops.log_level, json_format=settings.ops.json_logs)
    daemon = Daemon(settings)
    done = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: done.set()) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        daemon.start()
        while not done.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        daemon.stop()
    return 0
