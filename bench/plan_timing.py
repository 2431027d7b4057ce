"""Time one plan: `python -m bench.plan_timing [TASKS] [AGENTS] [CONSTRAINT]` (best of 3).

CONSTRAINT (unique_host, exclusive or balanced) gives every task that hard constraint;
`consolidate` instead turns consolidation on in every pool (the loop's default).
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
    consolidate = constraint == "consolidate"
    snap = fenzo(agents=agents, tasks=tasks, constraint=None if consolidate else constraint)
    if consolidate:
        pools = [p.model_copy(update={"consolidate": True}) for p in snap.pools]
        snap = snap.model_copy(update={"pools": pools})
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        result = plan(snap)
        best = min(best, time.perf_counter() - t0)
    s = result.summary
    kind = "unconstrained, consolidating" if consolidate else constraint or "unconstrained"
    print(
        f"{tasks} {kind} tasks on {agents} agents: "
        f"{best * 1000:.1f} ms per plan "
        f"(placed {s.placed}, on new {s.placed_on_new}, unplaced {s.unplaced}, "
        f"cordoned {len(result.cordon)})"
    )


if __name__ == "__main__":
    main()
