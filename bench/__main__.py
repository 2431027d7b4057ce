"""The benchmark suite: `python -m bench [--quick]` prints one table of planner figures.

Each figure comes with a baseline measured in the same run (bench/baseline.py), because
these 2-core machines are noisy: the ratio is the figure to compare between runs.
- pass: 200 pending tasks on 10,000 agents (Fenzo's setup), best of 5, vs a bare FFD pass;
- backlog: 50,000 mixed tasks (2% unique_host, 2% balanced over zones) on 10,000 agents in
  4 pools x 3 zones with scale-up, in a fresh process for its peak RSS;
- Panigrahy: bins vs known optimum on every instance with one (--quick: replicas 0-1),
  mean and worst gap per class, time per instance, vs plain FFD on the same instances.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.baseline import ffd_bins, ffd_pass
from bench.panigrahy import DEFAULT as PANIGRAHY
from bench.scenarios import fenzo
from controlplane.planning import plan
from controlplane.planning.helpers.packing import pack
from controlplane.sim.vbp import read_archive, read_optima


def _best_ms(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def pass_time(repeat: int) -> list[str]:
    snap = fenzo(agents=10_000, tasks=200)
    ours = _best_ms(lambda: plan(snap), repeat)
    base = _best_ms(lambda: ffd_pass(snap), repeat)
    return [
        f"pass: 200 tasks / 10,000 agents   {ours:8.1f} ms   bare FFD pass {base:7.1f} ms"
        f"   ratio {ours / base:5.2f}   (target <= 20 ms)"
    ]


def backlog() -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.backlog"], capture_output=True, text=True, check=True
    )
    r = json.loads(out.stdout)
    return [
        f"backlog: 50,000 tasks / 10,000 agents {1000 * r['seconds']:8.1f} ms   "
        f"peak RSS {r['peak_rss_mib']:.0f} MiB   (targets <= 1000 ms, <= 500 MB)",
        f"   placed {r['placed']} ({r['on_new']} on new), new instances {r['new_instances']}, "
        f"agents needed {r['agents_needed']} (lower bound {r['lower_bound']})",
    ]


def panigrahy(data: Path, replicas: set[str] | None) -> list[str]:
    optima = read_optima(data / "Panigrahy_base_OPT.csv")
    gaps: dict[str, list[float]] = defaultdict(list)
    base_gaps: dict[str, list[float]] = defaultdict(list)
    times: dict[int, list[float]] = defaultdict(list)
    base_times: dict[int, list[float]] = defaultdict(list)
    for inst in read_archive(data / "Panigrahy_instances.tar.gz"):
        if inst.name not in optima:
            continue
        if replicas is not None and inst.name.rsplit("_", 1)[1] not in replicas:
            continue
        sizes = np.array([s for s, q in inst.items for _ in range(q)]) / np.array(inst.capacity)
        t0 = time.perf_counter()
        ours = pack(sizes).count
        t1 = time.perf_counter()
        base = int(ffd_bins(sizes).max()) + 1
        t2 = time.perf_counter()
        opt, cls, n = optima[inst.name], inst.name.split("_")[0], int(inst.name.split("_")[1])
        gaps[cls].append((ours - opt) / opt)
        base_gaps[cls].append((base - opt) / opt)
        times[n].append(t1 - t0)
        base_times[n].append(t2 - t1)
    lines = [f"Panigrahy ({sum(map(len, gaps.values()))} instances with a known optimum)"]
    lines.append(f"   {'class':<8} {'mean gap':>9} {'worst':>7} {'FFD mean':>9}")
    for cls in sorted(gaps):
        lines.append(
            f"   {cls:<8} {100 * statistics.mean(gaps[cls]):8.2f}% {100 * max(gaps[cls]):6.1f}% "
            f"{100 * statistics.mean(base_gaps[cls]):8.2f}%"
        )
    every = [g for v in gaps.values() for g in v]
    base_every = [g for v in base_gaps.values() for g in v]
    lines.append(
        f"   {'all':<8} {100 * statistics.mean(every):8.2f}% {100 * max(every):6.1f}% "
        f"{100 * statistics.mean(base_every):8.2f}%   (target mean <= 1.5%)"
    )
    for n in sorted(times):
        ours_ms, base_ms = 1000 * statistics.mean(times[n]), 1000 * statistics.mean(base_times[n])
        lines.append(
            f"   {n:>4} items: {ours_ms:7.1f} ms per instance (max "
            f"{1000 * max(times[n]):6.1f}), FFD {base_ms:6.2f} ms, ratio {ours_ms / base_ms:5.1f}"
        )
    return lines


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    sections: list[Callable[[], list[str]]] = [
        lambda: pass_time(2 if quick else 5),
        backlog,
        lambda: panigrahy(PANIGRAHY, {"0", "1"} if quick else None),
    ]
    for section in sections:
        for line in section():
            print(line, flush=True)


if __name__ == "__main__":
    main()
