"""The figures of one replay, and the two references it is judged against.

- instance-hours: instances alive (launching or registered) integrated over the replay.
- oracle: at each instant the fewest instances whose capacity covers the work that would
  be running if every task started the moment it was submitted (per pool, over the tasks
  routed to it, the largest of cpus, mem and gpus over one instance's, rounded up): no
  autoscaler can use less. Every figure is per pool at its own price, then summed.
- waits count every submitted task: one that never started waited at least until the end.
- a Spot run pays `spot_discount` less per instance-hour; its oracle cost stays on-demand.
- static peak: the oracle's peak, provisioned for the whole replay (what a fixed fleet
  sized for the busiest minute costs).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from moto.ec2.models.instance_types import INSTANCE_TYPES

from controlplane.aws.instance_types import parse_instance_type
from controlplane.demo.config import DemoConfig, DemoPool
from controlplane.demo.recording import Recording
from controlplane.demo.workload import Workload, concurrent_demand


def pool_capacity(config: DemoConfig, pool: DemoPool) -> dict[str, float]:
    """What one instance of the pool offers tasks (the AWS adapter's own arithmetic on the
    instance type data moto serves, so it holds even for a pool that never launched)."""
    raw = INSTANCE_TYPES.get(pool.instance_type)
    if raw is None:
        return {"cpus": 8.0, "mem": 31744.0}
    return parse_instance_type(raw).capacity(config.rules_for(None))


def oracle_instances(
    workload: Workload, times: np.ndarray[Any, Any], capacity: dict[str, float]
) -> np.ndarray[Any, Any]:
    """Per instant, the fewest instances of this capacity covering the running work."""
    cpus, mem, gpus = concurrent_demand(workload, times)
    need = np.zeros(len(times))
    for demand, name in ((cpus, "cpus"), (mem, "mem"), (gpus, "gpus")):
        cap = capacity.get(name, 0.0)
        if cap > 0:
            need = np.maximum(need, demand / cap)
        elif demand.any():
            need = np.maximum(need, np.where(demand > 0, np.inf, 0.0))
    return np.ceil(need - 1e-9).clip(0)


def _pool_figures(
    record: Recording, workload: Workload, config: DemoConfig, times: np.ndarray[Any, Any]
) -> dict[str, dict[str, Any]]:
    """Instance-hours, cost and oracle of every pool, each at its own price and size."""
    step_h = config.step_s / 3600.0
    out: dict[str, dict[str, Any]] = {}
    routed = [record.pool_of.get(f"t{i:06d}") for i in range(len(workload.arrivals))]
    for pool in config.pools:
        mine = Workload(
            tuple(a for a, p in zip(workload.arrivals, routed, strict=True) if p == pool.name),
            workload.source,
        )
        instances = np.array([s.instances.get(pool.name, 0) for s in record.samples], float)
        oracle = (
            oracle_instances(mine, times, pool_capacity(config, pool))
            if len(times)
            else np.zeros(0)
        )
        hours, oracle_hours = float(instances.sum() * step_h), float(oracle.sum() * step_h)
        # A Spot run pays the Spot price; the oracle stays on-demand (the same work, no Spot).
        price = pool.hourly_price * (1 - config.spot_discount if record.spot else 1)
        out[pool.name] = {
            "instance_type": pool.instance_type,
            "tasks": len(mine.arrivals),
            "instance_hours": round(hours, 2),
            "oracle_instance_hours": round(oracle_hours, 2),
            "hourly_price": round(price, 4),
            "cost_usd": round(hours * price, 2),
            "oracle_cost_usd": round(oracle_hours * pool.hourly_price, 2),
            "cost_vs_oracle": round(hours / oracle_hours, 3) if oracle_hours else None,
            "peak_instances": int(instances.max()) if len(instances) else 0,
            "static_peak_instance_hours": round(
                float((oracle.max() if len(oracle) else 0.0) * config.hours), 2
            ),
        }
    return out


def waits(record: Recording, end_s: float) -> tuple[np.ndarray[Any, Any], dict[str, float]]:
    """Every submitted task's wait: until it started, or, never started, at least until the
    end of the replay; and the tasks that never started, with how long they waited."""
    out, never = [], {}
    for task, submitted in record.submitted.items():
        if task in record.started:
            out.append(record.started[task] - submitted)
        else:
            never[task] = max(0.0, end_s - submitted)
            out.append(never[task])
    return np.array(out), never


def summarize(record: Recording, workload: Workload, config: DemoConfig) -> dict[str, Any]:
    times = np.array([s.t for s in record.samples])
    pools = _pool_figures(record, workload, config, times)
    end_s = float(times[-1]) if len(times) else config.hours * 3600.0
    all_waits, never = waits(record, end_s)
    instance_hours = sum(p["instance_hours"] for p in pools.values())
    oracle_hours = sum(p["oracle_instance_hours"] for p in pools.values())
    static_hours = sum(p["static_peak_instance_hours"] for p in pools.values())
    util = [
        sum(a["cpus"] for a in s.allocated.values())
        / max(1e-9, sum(p["cpus"] for p in s.provisioned.values()))
        for s in record.samples
        if s.provisioned
    ]
    return {
        "policy": record.variant,
        "workload": workload.source,
        "hours": config.hours,
        "instance_hours": round(instance_hours, 2),
        "oracle_instance_hours": round(oracle_hours, 2),
        "static_peak_instance_hours": round(static_hours, 2),
        "cost_usd": round(sum(p["cost_usd"] for p in pools.values()), 2),
        "oracle_cost_usd": round(sum(p["oracle_cost_usd"] for p in pools.values()), 2),
        "static_peak_cost_usd": round(
            sum(
                p["static_peak_instance_hours"] * c.hourly_price
                for c, p in zip(config.pools, pools.values(), strict=True)
            ),
            2,
        ),
        "cost_vs_oracle": round(instance_hours / oracle_hours, 3) if oracle_hours else None,
        "pools": pools,
        "tasks_submitted": len(record.submitted),
        "tasks_started": len(record.started),
        "tasks_completed": len(record.ended),
        "tasks_never_started": len(never),
        "never_started": sorted(never)[:20],
        "p50_wait_s": _pct(all_waits, 50),
        "p95_wait_s": _pct(all_waits, 95),
        "max_wait_s": _pct(all_waits, 100),
        "max_pending_s": round(max(never.values()), 1) if never else _pct(all_waits, 100),
        "mean_cpu_utilisation": round(float(np.mean(util)), 3) if util else None,
        "peak_instances": int(max((sum(s.instances.values()) for s in record.samples), default=0)),
        "scale_ups": sum(1 for a in record.actions if a[2] == "scale-up"),
        "drains": sum(1 for a in record.actions if a[2] == "drain"),
        "durations": config.durations,
        # Pass-task pairs in which a task waited for an agent about to empty instead of
        # a new instance (a task may wait in two passes).
        "waits_for_emptying_agents": sum(a[3] for a in record.actions if a[2] == "wait"),
        "agents_cordoned": sum(1 for a in record.actions if a[2] == "cordon"),
        "agents_uncordoned": sum(1 for a in record.actions if a[2] == "uncordon"),
        "spot": record.spot,
        # Spot interruption warnings, and tasks still on an instance when AWS took it (ours
        # are relocated on the warning; counted apart from busy terminations).
        "spot_interruptions": record.interruptions,
        "tasks_lost_to_reclaims": len(record.lost_to_reclaims),
        # Restartable tasks killed on cordoned agents and run again elsewhere.
        "tasks_relocated": sum(1 for a in record.actions if a[2] == "relocate"),
        "busy_terminations": len(record.busy_terminations),
        "passes": record.passes,
        "failed_passes": record.failed_passes,
        "unsettled_steps": record.unsettled_steps,
        "replay_real_s": round(record.real_s, 1),
    }


def _pct(values: np.ndarray[Any, Any], q: float) -> float | None:
    if not len(values):
        return None
    value = float(np.percentile(values, q))
    return round(value, 1) if math.isfinite(value) else None
