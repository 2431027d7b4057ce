"""Instances that never become agents: a deadline, and a guard for when Mesos forgets many.

Pure decisions, like `drains.py`: the pass gives what AWS and Mesos show, the memory of
when each instance was first seen without an agent, and the time; it gets back the
instances to terminate and why. An instance counts from the first pass that saw it
present in its group and not registered (so a control plane that was down never acts on a
guess of when it launched). Past `deadline_s` it is terminated with decrement, as Cluster
Autoscaler's max-node-provision-time does, and its zone is backed off.

Never on a doubtful picture: an instance protected from scale-in was busy when last seen
and is left alone; and when more than `max_unregistered_share` of a pool's instances have
no agent (a Mesos master failover lists none for a while), nothing is terminated and
no agent is drained in that pool, as CA's max-total-unready-percentage halts scale-down.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from controlplane.aws.replies import ObservedGroup


@dataclass(frozen=True)
class Expired:
    """An instance past its registration deadline: terminate it."""

    asg: str
    pool: str
    zone: str
    instance_id: str
    waited_s: float
    #: Terminate with decrement (False when the group is at min: AWS replaces it).
    decrement: bool

    @property
    def reason(self) -> str:
        return (
            f"instance {self.instance_id} not registered with Mesos {self.waited_s:.0f}s "
            "after it was first seen: registration deadline passed"
        )


@dataclass(frozen=True)
class RegistrationReview:
    expired: list[Expired] = field(default_factory=list)
    #: instance id -> first seen without an agent (what to remember).
    unregistered: dict[str, datetime] = field(default_factory=dict)
    #: pool -> instances present without an agent now.
    waiting: dict[str, int] = field(default_factory=dict)
    #: pool -> why no scale-down happens there this pass.
    halted: dict[str, str] = field(default_factory=dict)


def review_registrations(
    groups: Mapping[str, ObservedGroup],
    registered: Collection[str],
    memory: Mapping[str, datetime],
    now: datetime,
    *,
    deadline_s: float,
    max_unregistered_share: float,
    ok_unregistered: int,
) -> RegistrationReview:
    """Which instances to terminate, what to remember, and which pools must not shrink."""
    out = RegistrationReview()
    deadline = timedelta(seconds=deadline_s)
    present: dict[str, int] = {}
    for name, group in sorted(groups.items()):
        desired = group.desired
        for inst in group.instances:
            if inst.leaving:
                continue
            present[group.pool] = present.get(group.pool, 0) + 1
            if inst.instance_id in registered:
                continue
            since = memory.get(inst.instance_id, now)
            out.unregistered[inst.instance_id] = since
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
    for pool, waiting in sorted(out.waiting.items()):
        share = waiting / present[pool]
        if waiting > ok_unregistered and share > max_unregistered_share:
            out.halted[pool] = (
                f"{waiting} of {present[pool]} instances have no Mesos agent "
                f"({share:.0%} > {max_unregistered_share:.0%}): no scale-down until they register"
            )
    if out.halted:
        kept = [e for e in out.expired if e.pool not in out.halted]
        out.expired.clear()
        out.expired.extend(kept)
    for gone in out.expired:  # terminated in this pass: nothing left to wait for
        del out.unregistered[gone.instance_id]
    return out
