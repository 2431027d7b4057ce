"""Packing quality on every Panigrahy instance with a known optimum.

`python -m bench.panigrahy [DATA_DIR]`: bins used vs optimum, mean and worst gap per class,
and mean planning time per instance by nominal item count.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from controlplane.planning import plan
from controlplane.sim.vbp import read_archive, read_optima, to_snapshot

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "vbp-panigrahy"


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    optima = read_optima(data / "Panigrahy_base_OPT.csv")
    gaps: dict[str, list[float]] = defaultdict(list)
    times: dict[int, list[float]] = defaultdict(list)
    for inst in read_archive(data / "Panigrahy_instances.tar.gz"):
        if inst.name not in optima:
            continue
        snap = to_snapshot(inst)
        t0 = time.perf_counter()
        result = plan(snap)
        times[int(inst.name.split("_")[1])].append(time.perf_counter() - t0)
        optimum = optima[inst.name]
        gaps[inst.name.split("_")[0]].append((result.summary.new_instances - optimum) / optimum)
    print(f"{'class':<8} {'n':>5} {'mean gap':>9} {'worst':>7}")
    for name, values in sorted(gaps.items()):
        print(
            f"{name:<8} {len(values):>5} {100 * statistics.mean(values):>8.2f}% "
            f"{100 * max(values):>6.1f}%"
        )
    every = [g for v in gaps.values() for g in v]
    mean, worst = 100 * statistics.mean(every), 100 * max(every)
    print(f"{'all':<8} {len(every):>5} {mean:>8.2f}% {worst:>6.1f}%")
    for items, values in sorted(times.items()):
        print(f"{items:>4} items: {1000 * statistics.mean(values):7.1f} ms mean per instance")


if __name__ == "__main__":
    main()
