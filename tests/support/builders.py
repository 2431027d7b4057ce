"""Small builders for hand-written snapshots: contract JSON with sensible defaults."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from controlplane.model import Plan, Snapshot
from controlplane.planning import plan

NOW = "2026-11-23T12:00:00Z"
CAP = {"cpus": 16.0, "mem": 64000.0}


def pool(
    name: str = "batch",
    zones: tuple[str, ...] = ("us-east-1a", "us-east-1b", "us-east-1c"),
    desired: tuple[int, ...] | None = None,
    max_size: int = 50,
    min_size: int = 0,
    **rules: Any,
) -> dict[str, Any]:
    sizes = desired or tuple(0 for _ in zones)
    out: dict[str, Any] = {
        "name": name,
        "instance_type": "m5.4xlarge",
        "capacity": dict(CAP),
        "idle_grace_s": 600,
        "scale_up_cooldown_s": 60,
        "scale_down_cooldown_s": 300,
        "groups": [
            {"asg": f"{name}-{z[-1]}", "zone": z, "min": min_size, "max": max_size, "desired": d}
            for z, d in zip(zones, sizes, strict=True)
        ],
    }
    out.update(rules)
    return out


def agent(
    ident: str,
    zone: str = "us-east-1a",
    pool_name: str = "batch",
    used: dict[str, float] | None = None,
    jobs: dict[str, int] | None = None,
    idle_s: float | None = 3600,
    **extra: Any,
) -> dict[str, Any]:
    jobs = jobs or {}
    busy = sum(jobs.values()) > 0
    out: dict[str, Any] = {
        "id": ident,
        "hostname": f"host-{ident}",
        "instance_id": f"i-{ident}",
        "pool": pool_name,
        "asg": f"{pool_name}-{zone[-1]}",
        "zone": zone,
        "total": dict(CAP),
        "used": used or {},
        "tasks": sum(jobs.values()),
        "jobs": jobs,
        "state": "active",
        "idle_since": None if busy or idle_s is None else ago(idle_s),
    }
    out.update(extra)
    return out


def task(ident: str, cpus: float = 1, mem: float = 1000, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": ident, "resources": {"cpus": cpus, "mem": mem}}
    out.update(extra)
    return out


def ago(seconds: float) -> str:
    """An RFC 3339 time `seconds` before NOW (negative: after)."""
    t = datetime.fromisoformat(NOW.replace("Z", "+00:00")) - timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def snapshot(
    pools: list[dict[str, Any]],
    agents: list[dict[str, Any]] | None = None,
    pending: list[dict[str, Any]] | None = None,
    history: dict[str, Any] | None = None,
) -> Snapshot:
    return Snapshot.model_validate(
        {
            "version": 1,
            "now": NOW,
            "pools": pools,
            "agents": agents or [],
            "pending": pending or [],
            "history": history or {},
        }
    )


def run(
    pools: list[dict[str, Any]],
    agents: list[dict[str, Any]] | None = None,
    pending: list[dict[str, Any]] | None = None,
    history: dict[str, Any] | None = None,
) -> Plan:
    return plan(snapshot(pools, agents, pending, history))


def targets(p: Plan) -> dict[str, str]:
    """task id -> `agent` or `pool/zone#index`."""
    return {pl.task: pl.target for pl in p.placements}
