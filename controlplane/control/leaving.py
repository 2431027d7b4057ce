"""Pools and agents as they will be once this pass's departures are made: instances past
their registration deadline terminated, groups AWS is reclaiming backed off, agents it is
taking back draining."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime

from controlplane.aws.actions import Expired
from controlplane.aws.capacity import CapacityLedger
from controlplane.control.interruptions import Interrupted
from controlplane.model import Agent, Pool


def without_leaving(
    pools: Sequence[Pool],
    expired: Sequence[Expired],
    ledger: CapacityLedger,
    now: datetime,
    reclaimed: Collection[str] = (),
) -> list[Pool]:
    """Pools as they will be once this pass terminates `expired`: their desired capacity
    lowered and their zones backed off, so that capacity never counts as placed. Groups
    AWS is reclaiming (`reclaimed`) are backed off too."""
    if not expired and not reclaimed:
        return list(pools)
    drop = Counter(e.asg for e in expired if e.decrement)
    backed = {e.asg for e in expired} | set(reclaimed)
    out = []
    for pool in pools:
        groups = [
            g.model_copy(
                update={
                    "desired": g.desired - drop.get(g.asg, 0),
                    "unavailable_until": ledger.unavailable_until(g.asg, now),
                }
            )
            if g.asg in backed
            else g
            for g in pool.groups
        ]
        out.append(pool.model_copy(update={"groups": groups}))
    return out


def interrupted_agents(agents: Sequence[Agent], interrupted: Interrupted) -> list[Agent]:
    """Agents AWS is taking back are leaving: draining, and never cordoned (given back)."""
    if not interrupted.cordons:
        return list(agents)
    update = {"state": "draining", "cordoned": False}
    return [a.model_copy(update=update) if a.id in interrupted.cordons else a for a in agents]
