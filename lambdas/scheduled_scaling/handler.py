"""Lambda handler: set each pool's scheduled floor, then run one pass if no daemon leads.

The floor is state both drivers read, never a fight: the handler writes `floor#<pool>` items
(ordered by decision time, so a late retry never undoes a newer decision), and the planner
of whichever control plane holds the lease raises the pool to the floor and drains no idle
agent below it. Lowering a floor only lets idle agents go: running tasks are never touched.

Configuration is `Settings` from `CONTROLPLANE_*` environment variables (and, if
`CONTROLPLANE_CONFIG` names one, a TOML file in the bundle). No framework driver here: Mesos
is read through the operator HTTP API, demand from the `http` source.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3

from controlplane.config import Settings, load_settings
from controlplane.control.wiring import LeaderElsewhere, Parts, build, one_pass, utc_now
from controlplane.demand import DemandSource
from controlplane.profiles import floors_at
from controlplane.state.records import ScheduledFloor
from controlplane.state.store import StateStore
from lambdas.scheduled_scaling.events import EventError, parse_event

log = logging.getLogger("controlplane.lambda")
CONFIG_ENV = "CONTROLPLANE_CONFIG"


class PassFailedError(RuntimeError):
    """The reconcile pass failed: the invocation fails so that Lambda retries and alarms."""


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (`lambdas.scheduled_scaling.handler.handler`)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO)
    settings = load_settings(os.environ.get(CONFIG_ENV) or None)
    request_id = str(getattr(context, "aws_request_id", "local"))
    return apply(event, settings=settings, request_id=request_id)


def apply(
    event: Any,
    *,
    settings: Settings,
    clock: Callable[[], datetime] = utc_now,
    session: boto3.Session | None = None,
    demand: DemandSource | None = None,
    request_id: str = "local",
) -> dict[str, Any]:
    """Handle one event; returns what was decided and done (also logged)."""
    trigger = parse_event(event)
    now = clock()
    lag = None if trigger.scheduled is None else (now - trigger.scheduled).total_seconds()
    log.info("scheduled scaling: %s %s (lag %ss)", trigger.source, trigger.name, lag)
    parts = build(settings, clock=clock, session=session, demand=demand)
    floors = _set_floors(parts.store, settings, now)
    result = {
        "trigger": {"source": trigger.source, "name": trigger.name, "lag_s": lag},
        "now": _stamp(now),
        "floors": floors,
        "pass": _one_pass(parts, settings, now, request_id),
    }
    log.info("scheduled scaling done: %s", result)
    return result


def _set_floors(store: StateStore, settings: Settings, now: datetime) -> dict[str, Any]:
    """Write the floor of every pool a profile names (or that has one stored)."""
    decided = floors_at(settings.schedule.profiles, now)
    stored = store.load().floors
    pools = sorted({p.pool for p in settings.schedule.profiles} | set(stored))
    out: dict[str, Any] = {}
    for pool in pools:
        floor = decided.get(pool)
        record = (
            None
            if floor is None
            else ScheduledFloor(
                instances=floor.instances, source=floor.source, until=floor.until, set_at=now
            )
        )
        current = stored.get(pool)
        same = (record is None and current is None) or (
            record is not None
            and current is not None
            and (record.instances, record.source, record.until)
            == (current.instances, current.source, current.until)
        )
        written = False if same else store.set_floor(pool, record, now)
        if not same and not written:
            log.warning("floor of %s not written: a later decision is stored", pool)
        out[pool] = {
            "instances": None if record is None else record.instances,
            "source": None if record is None else record.source,
            "until": None if record is None else _stamp(record.until),
            "written": written,
        }
    return out


def _one_pass(parts: Parts, settings: Settings, now: datetime, request_id: str) -> dict[str, Any]:
    if not settings.schedule.run_pass:
        return {"ran": False, "why": "schedule.run_pass is false"}
    if settings.demand.source != "http":
        return {
            "ran": False,
            "why": "demand.source is framework: pending work lives in the daemon, which "
            "applies the floor on its next pass",
        }
    result = one_pass(parts, f"lambda:{request_id}", now)
    if isinstance(result, LeaderElsewhere):
        return {"ran": False, "why": f"{result.holder} holds the lease and applies the floor"}
    if result.outcome == "failed":
        raise PassFailedError(f"pass failed at {result.stage}: {result.error}")
    plan = result.plan
    return {
        "ran": True,
        "outcome": result.outcome,
        "scale_up": 0 if plan is None else sum(s.count for s in plan.scale_up),
        "scale_down": 0 if plan is None else len(plan.scale_down),
        "actions": [
            {"kind": a.kind, "asg": a.asg, "outcome": a.outcome, "detail": a.detail}
            for a in result.actions
            if a.outcome != "skipped"
        ],
    }


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["EventError", "PassFailedError", "apply", "handler"]
