"""How close any autoscaler without task migration can come to the demo's oracle.

    python -m bench.floor [--trace batch_task.csv --hours 12]

The demo's oracle (`demo/summary.py`) is a fluid bound: at each instant, the work running
divided by one instance, rounded up, as if tasks could move between instances every
minute at no cost and ignored constraints. This replays the same workload through an
idealised autoscaler that cannot move tasks: each task starts at the end of the step it was
submitted in, on the best-fitting instance already there (booting ones included) or on a
new one that serves `boot_delay_s` later; an instance is let go the instant it empties (no
idle grace, no pass interval, no drain). Best fit by the average of cpu and memory shares;
with `lifetime`, plus the planner's lifetime term (0.5 x how little the task extends the
instance's expected life), told each task's true duration (clairvoyant) or its job's mean.
Unique-host tasks get their own instance per job; the last row drops that constraint to
show what it costs. Per-instant instances are counted like the demo's, per step.
"""

from __future__ import annotations

import argparse
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from controlplane.demo.summary import oracle_instances
from controlplane.demo.workload import Arrival, Workload, load_trace, synthetic

CAPACITY = {"cpus": 8.0, "mem": 31744.0}  # one m5.2xlarge as the demo's agents offer it


@dataclass
class Instance:
    born: float
    ready: float
    cpus: float = CAPACITY["cpus"]
    mem: float = CAPACITY["mem"]
    running: int = 0
    jobs: dict[str | None, int] = field(default_factory=dict)
    #: The latest expected end of what it runs (for the lifetime term).
    expected_end: float = 0.0
    gone: float | None = None


def replay(
    workload: Workload,
    *,
    boot_s: float,
    step_s: float,
    estimate: Callable[[Arrival], float] | None,
    unique_host: bool = True,
) -> float:
    """Instance-hours of the idealised autoscaler (`estimate`: the lifetime term's duration
    of a task, None for best fit alone)."""
    fleet: list[Instance] = []
    ends: list[tuple[float, int, int]] = []  # (end, instance, arrival index)
    arrivals = sorted(workload.arrivals, key=lambda a: a.submit_s)
    for n, task in enumerate(arrivals):
        now = float(np.ceil(task.submit_s / step_s) * step_s)
        while ends and ends[0][0] <= now:
            _end(fleet, arrivals, *heapq.heappop(ends))
        spread = unique_host and "unique_host" in task.constraints
        best, best_score = None, -1.0
        for i, inst in enumerate(fleet):
            if inst.gone is not None or inst.cpus < task.cpus - 1e-9 or inst.mem < task.mem - 1e-9:
                continue
            if spread and inst.jobs.get(task.job):
                continue
            score = (task.cpus / inst.cpus + task.mem / inst.mem) / 2
            if estimate is not None:
                expected = estimate(task)
                extension = max(0.0, now + expected - max(inst.expected_end, now))
                score += 0.5 * (1 - min(extension, expected) / expected)
            if score > best_score:
                best, best_score = i, score
        if best is None:
            fleet.append(Instance(born=now, ready=now + boot_s))
            best = len(fleet) - 1
        inst = fleet[best]
        start = max(now, inst.ready)
        inst.cpus -= task.cpus
        inst.mem -= task.mem
        inst.running += 1
        inst.jobs[task.job] = inst.jobs.get(task.job, 0) + 1
        expected = estimate(task) if estimate is not None else task.duration_s
        inst.expected_end = max(inst.expected_end, start + expected)
        heapq.heappush(ends, (start + task.duration_s, best, n))
    while ends:
        _end(fleet, arrivals, *heapq.heappop(ends))
    return sum((i.gone or i.ready) - i.born for i in fleet) / 3600.0


def _end(fleet: list[Instance], arrivals: list[Arrival], at: float, i: int, n: int) -> None:
    inst, task = fleet[i], arrivals[n]
    inst.cpus += task.cpus
    inst.mem += task.mem
    inst.running -= 1
    inst.jobs[task.job] -= 1
    if inst.running == 0:
        inst.gone = at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trace", type=Path)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--boot", type=float, default=120.0)
    parser.add_argument("--step", type=float, default=60.0)
    args = parser.parse_args()
    if args.trace is None:
        workload = synthetic(hours=args.hours)
    else:
        workload = load_trace(args.trace, hours=args.hours)
    times = np.arange(args.step, args.hours * 3600.0 + 1, args.step)
    oracle = float(oracle_instances(workload, times, CAPACITY).sum() * args.step / 3600.0)
    by_job: dict[str | None, list[float]] = {}
    for a in workload.arrivals:
        by_job.setdefault(a.job, []).append(a.duration_s)
    means = {job: float(np.mean(d)) for job, d in by_job.items()}
    rows: list[tuple[str, Callable[[Arrival], float] | None, bool]] = [
        ("best fit", None, True),
        ("best fit + lifetime, job means", lambda a: means[a.job], True),
        ("best fit + lifetime, clairvoyant", lambda a: a.duration_s, True),
        ("best fit, unique_host dropped", None, False),
    ]
    print(f"{workload.source}: oracle {oracle:.1f} instance-hours")
    for name, estimate, unique in rows:
        hours = replay(
            workload, boot_s=args.boot, step_s=args.step, estimate=estimate, unique_host=unique
        )
        print(f"  {name:34s} {hours:7.1f} instance-hours = {hours / oracle:.3f} x oracle")


if __name__ == "__main__":
    main()
