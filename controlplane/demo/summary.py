"""The figures of one replay, and the two references it is judged against.

- instance-hours: instances alive (launching or registered) integrated over the replay.
- oracle: at each instant the fewest instances whose capacity covers the work that would
  be running if every task started the moment it was submitted (per pool, the largest of
  cpus/capacity and mem/capacity, rounded up): no autoscaler can use less.
- static peak: the oracle's peak, provisioned for the whole replay (what a fixed fleet
  sized for the busiest minute costs).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from controlplane.demo.config import DemoConfig
from controlplane.demo.replay import Recording
from controlplane.demo.workload import Workload, concurrent_demand


def agent_capacity(record: Recording) -> tuple[float, float]:
    """cpus and mem one agent offers, as the replay's registered agents reported them."""
    for sample in record.samples:
        agents = sum(sample.agents_by_zone.values())
        if agents:
            prov = next(iter(sample.provisioned.values()))
            return prov["cpus"] / agents, prov["mem"] / agents
    return 8.0, 31744.0  # m5.2xlarge less the default reserve, if no agent ever came


def oracle_instances(
    workload: Workload, record: Recording, times: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    cpus, mem, _ = concurrent_demand(workload, times)
    cap_cpu, cap_mem = agent_capacity(record)
    need = np.maximum(cpus / cap_cpu, mem / cap_mem)
    return np.ceil(need - 1e-9).clip(0)


def summarize(record: Recording, workload: Workload, config: DemoConfig) -> dict[str, Any]:
    step_h = config.step_s / 3600.0
    times = np.array([s.t for s in record.samples])
    instances = np.array([sum(s.instances.values()) for s in record.samples], dtype=float)
    oracle = oracle_instances(workload, record, times) if len(times) else np.zeros(0)
    price = config.pools[0].hourly_price
    waits = np.array(
        [record.started[t] - record.submitted[t] for t in record.started if t in record.submitted]
    )
    submitted = len(record.submitted)
    instance_hours = float(instances.sum() * step_h)
    oracle_hours = float(oracle.sum() * step_h)
    static_hours = float((oracle.max() if len(oracle) else 0.0) * config.hours)
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
        "cost_usd": round(instance_hours * price, 2),
        "oracle_cost_usd": round(oracle_hours * price, 2),
        "static_peak_cost_usd": round(static_hours * price, 2),
        "cost_vs_oracle": round(instance_hours / oracle_hours, 3) if oracle_hours else None,
        "tasks_submitted": submitted,
        "tasks_started": len(record.started),
        "tasks_completed": len(record.ended),
        "p50_wait_s": _pct(waits, 50),
        "p95_wait_s": _pct(waits, 95),
        "max_wait_s": _pct(waits, 100),
        "mean_cpu_utilisation": round(float(np.mean(util)), 3) if util else None,
        "peak_instances": int(instances.max()) if len(instances) else 0,
        "scale_ups": sum(1 for a in record.actions if a[2] == "scale-up"),
        "drains": sum(1 for a in record.actions if a[2] == "drain"),
        "busy_terminations": len(record.busy_terminations),
        "passes": record.passes,
        "failed_passes": record.failed_passes,
        "replay_real_s": round(record.real_s, 1),
    }


def _pct(values: np.ndarray[Any, Any], q: float) -> float | None:
    if not len(values):
        return None
    value = float(np.percentile(values, q))
    return round(value, 1) if math.isfinite(value) else None
