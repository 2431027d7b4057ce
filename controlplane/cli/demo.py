"""`controlplane demo`: replay a workload on the embedded world and write the report."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from controlplane.demo.config import DemoConfig, DemoPool, Variant, load_demo_config
from controlplane.demo.workload import (
    Workload,
    WorkloadError,
    load_trace,
    synthetic,
    synthetic_gpu,
)

if TYPE_CHECKING:
    from controlplane.demo.recording import Recording, Sample

BAR = 30


def cmd_demo(args: argparse.Namespace) -> int:
    # Imported here: matplotlib and moto are heavy and only the demo needs them.
    from controlplane.demo import report  # noqa: PLC0415
    from controlplane.demo.replay import Replay  # noqa: PLC0415
    from controlplane.demo.summary import summarize  # noqa: PLC0415

    config = load_demo_config(args.config, hours=args.hours, seed=args.seed)
    if args.durations is not None:
        config = config.model_copy(update={"durations": args.durations})
    if args.workload == "gpu":
        if args.trace is not None:
            raise WorkloadError("--workload gpu is synthetic: give it or --trace, not both")
        config = with_gpu_pool(config)
    workload = _workload(args.trace, config, args.workload)
    print(
        f"controlplane demo: {workload.source}, {len(workload.arrivals)} tasks, "
        f"{config.hours:g} virtual hours",
        file=sys.stderr,
    )
    # --compare: the configured policy itself first, then each variant (before/after in one
    # run: the default variants include `idle-only`, the policy before consolidation).
    variants: list[Variant | None] = [None, *config.variants] if args.compare else [None]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    records: list[Recording] = []
    summaries = []
    images = {}
    for variant in variants:
        name = variant.name if variant else "default"
        record = Replay(config, workload, variant, progress=_bar(name)).run()
        print(file=sys.stderr)
        summary = summarize(record, workload, config)
        records.append(record)
        summaries.append(summary)
        prefix = f"{name}-" if args.compare else ""
        images[name] = report.plot_run(record, workload, config, out, prefix)
    comparison = report.plot_comparison(summaries, out) if args.compare else None
    page = report.write_page(out, summaries, images, records, comparison)
    path = report.write_summary(out, summaries)
    failing = []
    for s in summaries:
        print(
            f"{s['policy']}: {s['instance_hours']} instance-hours (oracle "
            f"{s['oracle_instance_hours']}, static peak {s['static_peak_instance_hours']}), "
            f"${s['cost_usd']}, p95 wait {s['p95_wait_s']}s, never started "
            f"{s['tasks_never_started']}, busy terminations {s['busy_terminations']}, "
            f"cordoned {s['agents_cordoned']} (given back {s['agents_uncordoned']}), "
            f"durations {s['durations']} (waits for emptying agents "
            f"{s['waits_for_emptying_agents']}), relocated {s['tasks_relocated']}"
            + (
                f", Spot interruptions {s['spot_interruptions']} (tasks lost with them "
                f"{s['tasks_lost_to_reclaims']})"
                if s["spot"]
                else ""
            ),
            file=sys.stderr,
        )
        for name, p in s["pools"].items():
            print(
                f"  pool {name} ({p['instance_type']}): {p['tasks']} tasks, "
                f"{p['instance_hours']} instance-hours (oracle {p['oracle_instance_hours']}), "
                f"${p['cost_usd']}",
                file=sys.stderr,
            )
        failing += _failures(s, args.max_wait)
    print(f"report: {page}\nsummary: {path}")
    for line in failing:
        print(f"controlplane demo: {line}", file=sys.stderr)
    return 1 if failing else 0


def _failures(s: dict[str, object], max_wait_s: float) -> list[str]:
    """Why a run does not pass: a busy termination, a failed pass, work that never started
    or waited longer than `max_wait_s`."""
    out = []
    policy = s["policy"]
    if s["busy_terminations"]:
        out.append(f"{policy}: {s['busy_terminations']} instances terminated with tasks")
    if s["failed_passes"]:
        out.append(f"{policy}: {s['failed_passes']} passes failed")
    if s["tasks_never_started"]:
        shown = ", ".join(str(t) for t in s["never_started"])  # type: ignore[attr-defined]
        out.append(f"{policy}: {s['tasks_never_started']} tasks never started ({shown})")
    longest = s["max_pending_s"]
    if isinstance(longest, int | float) and longest > max_wait_s:
        out.append(f"{policy}: a task waited {longest:.0f}s, more than --max-wait {max_wait_s:g}s")
    return out


def with_gpu_pool(config: DemoConfig) -> DemoConfig:
    """`config` with a GPU pool (g4dn.xlarge, list price) unless it has one already."""
    if any(p.gpu for p in config.pools):
        return config
    gpu = DemoPool(
        name="gpu", instance_type="g4dn.xlarge", hourly_price=0.526, max_per_zone=10, gpu=True
    )
    return config.model_copy(update={"pools": (*config.pools, gpu)})


def _workload(trace: Path | None, config: DemoConfig, kind: str = "day") -> Workload:
    if trace is None:
        make = synthetic_gpu if kind == "gpu" else synthetic
        return make(hours=config.hours, seed=config.seed, scale=config.scale)
    workload = load_trace(trace, hours=config.hours)
    _check_fits(workload, config, str(trace))
    return workload


def _check_fits(workload: Workload, config: DemoConfig, source: str) -> None:
    """Every task fits one instance of some pool it may go to (else it could never start)."""
    from moto.ec2.models.instance_types import INSTANCE_TYPES  # noqa: PLC0415 (demo only)

    from controlplane.aws.instance_types import parse_instance_type  # noqa: PLC0415

    sizes = {}
    for pool in config.pools:
        raw = INSTANCE_TYPES.get(pool.instance_type)
        if raw is None:
            raise WorkloadError(f"pool {pool.name}: unknown instance type {pool.instance_type!r}")
        sizes[pool.name] = parse_instance_type(raw).capacity(config.rules_for(None))
    for i, task in enumerate(workload.arrivals):
        asks = {"cpus": task.cpus, "mem": task.mem, "gpus": task.gpus}
        if not any(
            all(amount <= cap.get(name, 0.0) for name, amount in asks.items() if amount > 0)
            for cap in sizes.values()
        ):
            shown = ", ".join(f"{k} {v:g}" for k, v in asks.items() if v > 0)
            biggest = "; ".join(
                f"{name}: " + ", ".join(f"{k} {v:g}" for k, v in sorted(cap.items()))
                for name, cap in sizes.items()
            )
            raise WorkloadError(f"{source}: task {i} ({shown}) fits no pool's instance ({biggest})")


def _bar(name: str) -> Callable[[float, Sample], None]:
    began = time.monotonic()
    shown = [-1]

    def show(fraction: float, sample: Sample) -> None:
        percent = int(fraction * 100)
        if percent == shown[0]:
            return
        shown[0] = percent
        done = round(fraction * BAR)
        instances = sum(sample.instances.values())
        sys.stderr.write(
            f"\r{name:>10} [{'#' * done}{'.' * (BAR - done)}] {fraction:4.0%} "
            f"{sample.t / 3600:5.1f}h  instances {instances:3d}  pending {sample.pending:4d}  "
            f"{time.monotonic() - began:4.0f}s"
        )
        sys.stderr.flush()

    return show
