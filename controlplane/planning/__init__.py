"""The pure planner: `plan(snapshot) -> Plan`. No boto3, no I/O, no clock reads.

A one-way pipeline, driven by `planner.py`; each stage reads what the ones before it built:

1. `tasks.py`: pending tasks grouped into classes (same demand, pool, constraints), in
   the order they are placed.
2. `table.py`: the candidate table, every place a task can go as numpy rows (registered
   agents, then launching and new instances as they are opened).
3. `growth.py`: where each pool may grow, per zone group (headroom, back-offs,
   cooldowns, zone balance); every new instance is opened through it.
4. `placement/`: each class onto the best rows (lifetime-aware when durations are
   known), new instances on shortfall, tasks that room freeing on an agent will hold before
   a boot left waiting for it (`soon_free.py`), and the shortfall packed onto the fewest new
   instances, per lifetime class where that is cheaper (`helpers/lifetimes.py`).
5. `floor.py`: pools raised to a scheduled floor.
6. `idle.py`: the idle buffer: `min_idle` topped up, idle agents above `max_idle` drained.
7. `consolidate.py`: under-used agents whose work fits elsewhere cordoned to empty; when
   work waits in a pool holding cordoned agents, `planner.py` plans again with them given
   back.
8. `bounds.py`: the lower bound the summary reports.

Beside the pipeline, `relocate.py` decides, from a plan and what the loop saw, which
restartable tasks of cordoned agents to kill and run again elsewhere (the loop's, not part
of the plan).

`helpers/` holds what the stages share and none of them is: vector kernels over the
table's columns, fitness and constraint scoring, the k-best ranking, commits, the packer.
"""

from controlplane.planning.planner import plan

__all__ = ["plan"]
