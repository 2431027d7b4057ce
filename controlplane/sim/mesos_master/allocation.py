"""Offers: what the master makes of free resources, and the invariant they keep.

One offer per agent with all its free resources (total - allocated - offered), to each
subscribed, unsuppressed framework in id order (no DRF: the first framework gets
everything), skipping agents it declined until its filter expires. Callers hold the lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controlplane.sim.mesos_master.state import (
    JSON,
    Offer,
    add_all,
    fits,
    offer_json,
    worth_offering,
)

if TYPE_CHECKING:
    from controlplane.sim.mesos_master.core import MasterCore


def allocate(core: MasterCore, now: float) -> None:
    """Offer every active agent's free resources to the frameworks that want offers."""
    for fw in sorted(core.frameworks.values(), key=lambda f: f.id):
        if fw.stream is None or fw.stream.closed or fw.suppressed:
            continue
        made: list[JSON] = []
        fw.filters = {a: t for a, t in fw.filters.items() if t > now}
        offered = core.offered_map()
        for agent in sorted(core.agents.values(), key=lambda a: a.id):
            if not agent.active or agent.drain_state is not None:
                continue
            if fw.filters.get(agent.id, 0.0) > now:
                continue
            free = core.free(agent, offered.get(agent.id, {}))
            if not worth_offering(free):
                continue
            offer = Offer(f"{core.master_id}-O{core.next_id()}", fw.id, agent.id, free, now)
            core.offers[offer.id] = offer
            made.append(offer_json(offer, agent))
        if made:
            fw.send({"type": "OFFERS", "offers": {"offers": made}})


def violations(core: MasterCore) -> list[str]:
    """Agents whose offered + allocated exceed their total, or inactive ones with offers."""
    out = []
    offered = core.offered_map()
    for agent in core.agents.values():
        used = add_all([agent.allocated(), offered.get(agent.id, {})])
        if not fits(used, agent.total):
            out.append(f"{agent.id}: offered+allocated {used} > total {agent.total}")
        if not agent.active and agent.id in offered:
            out.append(f"{agent.id}: inactive agent has outstanding offers")
    return out
