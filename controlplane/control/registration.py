"""Instances that never become agents: a deadline, and a guard for when Mesos forgets many.

Pure decisions, like `drains.py`: the pass gives what AWS and Mesos show, the memory of the
groups' instances (`InstanceMemory`) and the time; it gets back the instances to terminate
and why, and the memory to keep. An instance that never had an agent counts from the first
pass that saw it present in its group (so a control plane that was down never acts on a
guess of when it launched). Past `deadline_s` it is terminated with decrement, as Cluster
Autoscaler's max-node-provision-time does, and its zone is backed off.

Never on a doubtful picture: an instance that had an agent and lost it is never expired
(Mesos may have forgotten it: a master failover lists no agents for a while), nor is one
protected from scale-in (busy when last seen). When more than `max_unregistered_share` of a
pool's agents are lost that way (and more than `ok_unregistered`), nothing in the pool is
drained, terminated or expired, as CA's max-total-unready-percentage halts scale-down; the
halt lasts while they stay lost. Instances still booting never trip it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from controlplane.aws.actions import Expired
from controlplane.aws.replies import ObservedGroup
from controlplane.state.records import InstanceMemory


@dataclass(frozen=True)
class RegistrationReview:
    expired: list[Expired] = field(default_factory=list)
    #: instance id -> first seen without an agent (what to remember).
    unregistered: dict[str, datetime] = field(default_factory=dict)
    #: Present instances that have had an agent (what to remember).
    registered: set[str] = field(default_factory=set)
    #: pool -> instances that never had an agent (booting, or stuck).
    waiting: dict[str, int] = field(default_factory=dict)
    #: pool -> instances whose agent Mesos no longer lists.
    lost: dict[str, int] = field(default_factory=dict)
    #: pool -> why no scale-down happens there this pass.
    halted: dict[str, str] = field(default_factory=dict)

    @property
    def memory(self) -> InstanceMemory:
        return InstanceMemory(dict(self.unregistered), frozenset(self.registered))


def review_registrations(
    groups: Mapping[str, ObservedGroup],
    registered: Collection[str],
    memory: InstanceMemory,
    now: datetime,
    *,
    deadline_s: float,
    max_unregistered_share: float,
    ok_unregistered: int,
) -> RegistrationReview:
    """Which instances to terminate, what to remember, and which pools must not shrink."""
    out = RegistrationReview()
    deadline = timedelta(seconds=deadline_s)
    had_agent: dict[str, int] = {}
    for name, group in sorted(groups.items()):
        desired = group.desired
        for inst in group.instances:
            iid = inst.instance_id
            if inst.leaving:
                continue
            if iid in registered or iid in memory.registered:
                out.registered.add(iid)
                had_agent[group.pool] = had_agent.get(group.pool, 0) + 1
                if iid not in registered:
                    out.lost[group.pool] = out.lost.get(group.pool, 0) + 1
                continue
            since = memory.unregistered.get(iid, now)
            out.unregistered[iid] = since
            out.waiting[group.pool] = out.waiting.get(group.pool, 0) + 1
            if now - since < deadline or inst.protected:
                continue
            decrement = desired - 1 >= group.min
            desired -= int(decrement)
            out.expired.append(
                Expired(
                    asg=name,
                    pool=group.pool,
                    zone=group.zone,
                    instance_id=inst.instance_id,
                    waited_s=(now - since).total_seconds(),
                    decrement=decrement,
                )
            )
    for pool, lost in sorted(out.lost.items()):
        share = lost / had_agent[pool]
        if lost > ok_unregistered and share > max_unregistered_share:
            out.halted[pool] = (
                f"{lost} of {had_agent[pool]} agents are no longer listed by Mesos "
                f"({share:.0%} > {max_unregistered_share:.0%}): no scale-down until they return"
            )
    if out.halted:
        kept = [e for e in out.expired if e.pool not in out.halted]
        out.expired.clear()
        out.expired.extend(kept)
    for gone in out.expired:  # terminated in this pass: nothing left to wait for
        del out.unregistered[gone.instance_id]
    return out
