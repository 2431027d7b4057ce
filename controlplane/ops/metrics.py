"""The metrics users expect of an autoscaler, refreshed once per pass.

Gauges with labels are cleared and refilled each pass, so a pool or group that went
away leaves no stale series behind. AWS and Mesos call metrics live in `AwsMetrics` and
`OperatorMetrics`, registered in the same registry by the daemon.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from controlplane.aws.actions import ActionResult
from controlplane.aws.replies import ObservedGroup
from controlplane.model import Plan, Snapshot

#: Bounded reasons a task is unplaced, in the order they are recognised in the text.
UNPLACED_REASONS: tuple[tuple[str, str], ...] = (
    ("scale-up cooldown", "cooldown"),
    ("unavailable until", "zone_unavailable"),
    ("at max", "at_max"),
    ("no active agent has", "attribute"),
    ("new instances lack", "attribute"),
    ("unique_host", "unique_host"),
    ("exclusive", "exclusive"),
    ("balanced", "balanced"),
    ("no pool instance holds", "too_large"),
    ("has no groups", "no_capacity"),
    ("no pools", "no_capacity"),
    ("none of ", "no_capacity"),
    ("needs ", "too_large"),
)
CATEGORIES = (*dict.fromkeys(c for _, c in UNPLACED_REASONS), "other")


def unplaced_category(reason: str) -> str:
    """The bounded label for a planner's unplaced reason (first keyword that matches)."""
    for needle, category in UNPLACED_REASONS:
        if needle in reason:
            return category
    return "other"


class ControlMetrics:
    """Per-pass gauges and counters of the control loop."""

    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

        def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
            return Gauge(f"controlplane_{name}", doc, list(labels), registry=registry)

        self.pending = gauge("pending_tasks", "Tasks waiting for resources")
        self.placements = gauge("placements", "Tasks the last plan placed", ["target"])
        self.unplaced = gauge("unplaced_tasks", "Tasks the last plan could not place", ["reason"])
        self.agents = gauge("agents", "Registered agents", ["pool", "zone", "state"])
        self.idle = gauge("idle_agents", "Active agents with no task and no placement", ["pool"])
        group = ["pool", "zone", "asg"]
        self.desired = gauge("group_desired", "Desired capacity per group", group)
        self.in_service = gauge("group_in_service", "InService instances per group", group)
        self.group_min = gauge("group_min", "Group minimum size", group)
        self.group_max = gauge("group_max", "Group maximum size", group)
        self.planned_up = gauge("planned_scale_up_instances", "New instances planned", ["pool"])
        self.planned_down = gauge("planned_scale_down_agents", "Drains planned", ["pool"])
        self.drains = gauge("drains_in_progress", "Drain intents not finished")
        self.leader = gauge("leader", "1 while this process holds the lease")
        self.last_pass = gauge("last_pass_timestamp_seconds", "End of the last good pass")
        self.actions = Counter(
            "controlplane_scale_actions_total",
            "Actions taken, by pool, kind and outcome",
            ["pool", "kind", "outcome"],
            registry=registry,
        )
        self.passes = Counter(
            "controlplane_passes_total",
            "Passes by outcome",
            ["outcome", "stage"],
            registry=registry,
        )
        self.seconds = Histogram(
            "controlplane_pass_seconds",
            "Duration of a reconcile pass",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )

    def observe_pass(
        self,
        snapshot: Snapshot,
        plan: Plan,
        actions: Sequence[ActionResult],
        *,
        pool_of: Mapping[str, str],
        drains_in_progress: int,
        duration_s: float,
    ) -> None:
        self.pending.set(len(snapshot.pending))
        on_agents = sum(1 for p in plan.placements if p.agent is not None)
        self.placements.labels("agent").set(on_agents)
        self.placements.labels("new").set(len(plan.placements) - on_agents)
        reasons = Tally(unplaced_category(u.reason) for u in plan.unplaced)
        self.unplaced.clear()
        for category in CATEGORIES:
            self.unplaced.labels(category).set(reasons.get(category, 0))
        placed = {p.agent for p in plan.placements if p.agent is not None}
        states = Tally((a.pool, a.zone, a.state) for a in snapshot.agents)
        idle = Tally(
            a.pool
            for a in snapshot.agents
            if a.state == "active" and a.running == 0 and a.id not in placed
        )
        self.agents.clear()
        for (pool, zone, state), n in sorted(states.items()):
            self.agents.labels(pool, zone, state).set(n)
        self.idle.clear()
        self.planned_up.clear()
        self.planned_down.clear()
        ups = Tally[str]()
        for up in plan.scale_up:
            ups[up.pool] += up.count
        downs = Tally(d.pool for d in plan.scale_down)
        for pool in sorted(p.name for p in snapshot.pools):
            self.idle.labels(pool).set(idle.get(pool, 0))
            self.planned_up.labels(pool).set(ups.get(pool, 0))
            self.planned_down.labels(pool).set(downs.get(pool, 0))
        for action in actions:
            pool = pool_of.get(action.asg, "-")
            self.actions.labels(pool, action.kind, action.outcome).inc()
        self.drains.set(drains_in_progress)
        self.seconds.observe(duration_s)
        self.passes.labels("ok", "done").inc()
        self.last_pass.set(self._clock())

    def observe_groups(self, groups: Mapping[str, ObservedGroup]) -> None:
        for metric in (self.desired, self.in_service, self.group_min, self.group_max):
            metric.clear()
        for name, g in sorted(groups.items()):
            labels = (g.pool, g.zone, name)
            self.desired.labels(*labels).set(g.desired)
            in_service = sum(1 for i in g.instances if i.lifecycle_state == "InService")
            self.in_service.labels(*labels).set(in_service)
            self.group_min.labels(*labels).set(g.min)
            self.group_max.labels(*labels).set(g.max)

    def pass_failed(self, stage: str, duration_s: float) -> None:
        self.passes.labels("failed", stage).inc()
        self.seconds.observe(duration_s)

    def pass_skipped(self, why: str) -> None:
        self.passes.labels("skipped", why).inc()

    def set_leader(self, leader: bool) -> None:
        self.leader.set(1 if leader else 0)
