"""Time one plan: `python -m bench.plan_timing [TASKS] [AGENTS] [CONSTRAINT]` (best of 3).

CONSTRAINT (unique_host, exclusive or balanced) gives every task that hard constraint.
"""

from __future__ import annotations

import sys
import time

from bench.scenarios import fenzo
from controlplane.planning import plan


def main() -> None:
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    agents = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    constraint = sys.argv[3] if len(sys.argv) > 3 else None
    snap = fenzo(agents=agents, tasks=tasks, constraint=constraint)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        result = plan(snap)
        best = min(best, time.perf_counter() - t0)
    s = result.summary
    print(
        f"{tasks} {constraint or 'unconstrained'} tasks on {agents} agents: "
        f"{best * 1000:.1f} ms per plan "
        f"(placed {s.placed}, on new {s.placed_on_new}, unplaced {s.unplaced})"
    )


if __name__ == "__main__":
    main()
