"""The demo's report: PNG plots (matplotlib, no display needed) and one HTML page.

Plots: capacity (demand vs allocated vs provisioned cpus, and the oracle), agents per zone,
utilisation and pending tasks, the pending-wait distribution, and (with `--compare`) the
policies' cost and wait side by side. The page adds the summary table and every scale
action with its reason, as the planner wrote it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt
import numpy as np

from controlplane.demo.config import DemoConfig
from controlplane.demo.recording import Recording
from controlplane.demo.summary import oracle_instances, pool_capacity, waits
from controlplane.demo.workload import Workload, concurrent_demand

#: Summary rows shown in the page, in this order.
SHOWN = (
    "instance_hours",
    "oracle_instance_hours",
    "static_peak_instance_hours",
    "cost_usd",
    "oracle_cost_usd",
    "static_peak_cost_usd",
    "cost_vs_oracle",
    "tasks_submitted",
    "tasks_completed",
    "tasks_never_started",
    "p50_wait_s",
    "p95_wait_s",
    "max_wait_s",
    "max_pending_s",
    "mean_cpu_utilisation",
    "peak_instances",
    "scale_ups",
    "drains",
    "busy_terminations",
    "passes",
    "failed_passes",
    "unsettled_steps",
    "replay_real_s",
)


def plot_run(
    record: Recording, workload: Workload, config: DemoConfig, out: Path, prefix: str
) -> list[str]:
    """Write this run's PNGs into `out`; returns their file names."""
    hours = np.array([s.t for s in record.samples]) / 3600.0
    if not len(hours):
        return []
    demand_cpu, _, _ = concurrent_demand(workload, hours * 3600.0)
    allocated = [sum(a["cpus"] for a in s.allocated.values()) for s in record.samples]
    provisioned = [sum(p["cpus"] for p in s.provisioned.values()) for s in record.samples]
    names = []

    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(hours, demand_cpu, label="demand (work if started on submit)", lw=1)
    ax.plot(hours, allocated, label="allocated (running tasks)", lw=1)
    ax.plot(hours, provisioned, label="provisioned (registered agents)", lw=1.5)
    _finish(ax, "CPUs over time", "cpus")
    names.append(_save(fig, out / f"{prefix}capacity.png"))

    fig, ax = plt.subplots(figsize=(10, 4))
    routed = [record.pool_of.get(f"t{i:06d}") for i in range(len(workload.arrivals))]
    for pool in config.pools:
        mine = Workload(
            tuple(a for a, p in zip(workload.arrivals, routed, strict=True) if p == pool.name),
            workload.source,
        )
        line = ax.plot(
            hours,
            [s.instances.get(pool.name, 0) for s in record.samples],
            lw=1.5,
            label=f"{pool.name} instances",
        )
        oracle = oracle_instances(mine, hours * 3600.0, pool_capacity(config, pool))
        ax.plot(hours, oracle, lw=1, ls=":", color=line[0].get_color(), label=f"{pool.name} oracle")
    _finish(ax, "Instances per pool, and the oracle", "instances")
    names.append(_save(fig, out / f"{prefix}pools.png"))

    fig, ax = plt.subplots(figsize=(10, 3))
    zones = sorted({z for s in record.samples for z in s.agents_by_zone})
    stacks = [[s.agents_by_zone.get(z, 0) for s in record.samples] for z in zones]
    if stacks:  # a run that never launched anything has no zone to stack
        ax.stackplot(hours, *stacks, labels=zones, step="post")
    _finish(ax, "Registered agents per zone", "agents")
    names.append(_save(fig, out / f"{prefix}zones.png"))

    fig, ax = plt.subplots(figsize=(10, 3))
    util = [a / p if p else 0.0 for a, p in zip(allocated, provisioned, strict=True)]
    ax.plot(hours, util, label="cpu utilisation (allocated / provisioned)", lw=1)
    ax.set_ylim(0, 1.05)
    twin = ax.twinx()
    twin.plot(hours, [s.pending for s in record.samples], color="tab:red", lw=0.8)
    twin.set_ylabel("pending tasks", color="tab:red")
    _finish(ax, "Utilisation and pending tasks", "utilisation")
    names.append(_save(fig, out / f"{prefix}utilisation.png"))

    all_waits, _ = waits(record, float(hours[-1] * 3600.0))
    fig, ax = plt.subplots(figsize=(6, 3))
    if len(all_waits):
        ax.hist(all_waits, bins=40, color="tab:purple")
        ax.set_yscale("log")
    ax.set_xlabel("seconds from submission to start")
    ax.set_ylabel("tasks")
    ax.set_title("Pending-wait distribution")
    names.append(_save(fig, out / f"{prefix}waits.png"))
    return names


def plot_comparison(summaries: list[dict[str, Any]], out: Path) -> str:
    labels = [s["policy"] for s in summaries]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    x = np.arange(len(labels))
    left.bar(x - 0.2, [s["cost_usd"] for s in summaries], 0.4, label="cost")
    left.bar(x + 0.2, [s["oracle_cost_usd"] for s in summaries], 0.4, label="oracle")
    left.set_xticks(x, labels)
    left.set_ylabel("USD")
    left.legend()
    left.set_title("Cost")
    right.bar(x, [s["p95_wait_s"] or 0 for s in summaries], 0.5, color="tab:red")
    right.set_xticks(x, labels)
    right.set_ylabel("seconds")
    right.set_title("p95 pending wait")
    return _save(fig, out / "compare.png")


def write_page(
    out: Path,
    summaries: list[dict[str, Any]],
    images: dict[str, list[str]],
    records: list[Recording],
    comparison: str | None,
) -> Path:
    rows = "".join(
        f"<tr><th>{html.escape(key)}</th>"
        + "".join(f"<td>{html.escape(str(s.get(key)))}</td>" for s in summaries)
        + "</tr>"
        for key in SHOWN
    )
    head = "".join(f"<th>{html.escape(s['policy'])}</th>" for s in summaries)
    parts = [
        "<!doctype html><meta charset='utf-8'><title>controlplane demo</title>",
        "<style>body{font:14px sans-serif;margin:2em;max-width:1100px}"
        "td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #ddd}"
        "img{max-width:100%}</style>",
        "<h1>controlplane demo</h1>",
        f"<p>Workload: {html.escape(str(summaries[0]['workload']))}, "
        f"{summaries[0]['hours']:g} virtual hours.</p>",
        f"<table><tr><th></th>{head}</tr>{rows}</table>",
    ]
    if comparison:
        parts.append(f"<h2>Policies side by side</h2><img src='{comparison}'>")
    for record, summary in zip(records, summaries, strict=True):
        parts.append(f"<h2>Policy {html.escape(summary['policy'])}</h2>")
        parts += [f"<img src='{name}'>" for name in images[summary["policy"]]]
        parts.append("<h3>Scale actions and their reasons</h3><table>")
        for t, pool, kind, count, reason in record.actions[:500]:
            parts.append(
                f"<tr><td>{t / 3600:.2f} h</td><td>{html.escape(pool)}</td>"
                f"<td>{kind}</td><td>{count}</td>"
                f"<td style='text-align:left'>{html.escape(reason)}</td></tr>"
            )
        parts.append("</table>")
    page = out / "report.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page


def write_summary(out: Path, summaries: list[dict[str, Any]]) -> Path:
    """summary.json: the first policy's figures at the top level, every policy in `runs`."""
    path = out / "summary.json"
    body = {**summaries[0], "runs": summaries}
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path


def _finish(ax: Any, title: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel("hours")
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:  # an empty run has nothing to label
        ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name
