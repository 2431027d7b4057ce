"""Time one plan: `python -m bench.plan_timing [TASKS] [AGENTS]` (best of 3)."""

from __future__ import annotations

import sys
import time

from bench.scenarios import fenzo
from controlplane.planning import plan


def main() -> None:
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    agents = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    snap = fenzo(agents=agents, tasks=tasks)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        result = plan(snap)
        best = min(best, time.perf_counter() - t0)
    s = result.summary
    print(
        f"{tasks} tasks on {agents} agents: {best * 1000:.1f} ms per plan "
        f"(placed {s.placed}, on new {s.placed_on_new}, unplaced {s.unplaced})"
    )


if __name__ == "__main__":
    main()
