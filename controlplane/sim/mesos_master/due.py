"""What the clock will make happen, kept so a tick touches only what is due.

A tick used to walk every agent and every task to find the few whose command had exited
or whose drain grace had run out: 15 ms a tick at 10,000 agents, most of the emulated
world's time. Task ends wait in a heap by end time and draining agents in a set, so a tick
costs what is due, not what exists.
"""

from __future__ import annotations

import heapq
import itertools

from controlplane.sim.mesos_master.state import SimAgent, SimTask


class DueWork:
    """Task ends by time and the agents that are draining. Callers hold the core's lock."""

    def __init__(self) -> None:
        self._ends: list[tuple[float, int, SimTask]] = []
        self._order = itertools.count()
        self.draining: set[str] = set()

    def started(self, task: SimTask) -> None:
        """A task began running; if its command has a length, it will exit then."""
        if task.ends_at is not None:
            heapq.heappush(self._ends, (task.ends_at, next(self._order), task))

    def exited(self, now: float, agents: dict[str, SimAgent]) -> list[SimTask]:
        """Tasks whose end time has come and that still run where they were launched
        (a task killed or lost before its end is skipped), in end-time order."""
        out: list[SimTask] = []
        while self._ends and self._ends[0][0] <= now:
            _, _, task = heapq.heappop(self._ends)
            agent = agents.get(task.agent_id)
            if agent is not None and agent.tasks.get((task.framework_id, task.task_id)) is task:
                out.append(task)
        return out

    def draining_agents(self, agents: dict[str, SimAgent]) -> list[SimAgent]:
        """Agents still draining, by id; forgets those that finished or went away."""
        out = []
        for agent_id in sorted(self.draining):
            agent = agents.get(agent_id)
            if agent is None or agent.drain_state != "DRAINING":
                self.draining.discard(agent_id)
            else:
                out.append(agent)
        return out
