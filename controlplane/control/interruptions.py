"""What the loop does about instance events from the interruption queue.

- Spot interruption warning: cordon the agent (deactivate, never give it back), relaunch
  the framework's own tasks on it elsewhere now (others are reported), and back off its
  group (zone and type) so replacement capacity lands elsewhere.
- Rebalance recommendation, scheduled change: cordon (it empties and leaves as its tasks
  end; restartable tasks may be relocated).
- The instance stopping or gone: relaunch our tasks on it now (Mesos would report them lost).
- An Auto Scaling termination: the termination lifecycle hook's drain handles it.
An event for an instance of no managed group changes nothing; nor does one for an instance
without an agent, except a Spot warning: that instance is still booting, AWS takes it in two
minutes whatever we do, so its group is backed off and the instance remembered (`warned`,
in the state table): the pass that sees its agent register cordons it and relaunches
whatever landed there, as if the warning had come then. A message is deleted only after the
pass that acted on it has stored what it did; one that is not an event we understand is
left for the queue's dead-letter redrive.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from controlplane.aws.actions import ActionOutcome, ActionResult
from controlplane.aws.interruption_events import BadEventError, InstanceEvent, parse_event
from controlplane.aws.interruption_queue import Message
from controlplane.aws.replies import ObservedGroup
from controlplane.mesos.replies import AgentView
from controlplane.model import Cordon

if TYPE_CHECKING:
    from controlplane.control.observed import Observed
    from controlplane.control.relocating import Relocator


@dataclass
class Interrupted:
    #: agent id -> the cordon to start (deactivate; never given back).
    cordons: dict[str, Cordon] = field(default_factory=dict)
    #: agent id -> why its tasks are relaunched elsewhere now.
    evict: dict[str, str] = field(default_factory=dict)
    #: group name -> why it is backed off.
    back_off: dict[str, str] = field(default_factory=dict)
    #: What each message came to (logged, and an action result each).
    notes: list[tuple[str, str]] = field(default_factory=list)
    #: Messages to delete once the pass has stored what it did.
    done: list[Message] = field(default_factory=list)
    #: instance id -> when AWS warned it would reclaim it, for instances still booting in
    #: their group (what to remember: an agent that registers on one is cordoned at once).
    warned: dict[str, datetime] = field(default_factory=dict)

    def reclaimed(self, views: Sequence[AgentView]) -> frozenset[str]:
        """Instances AWS takes back: warned ones, and those of agents being evicted."""
        evicted = {
            str(v.attributes["instance_id"])
            for v in views
            if v.id in self.evict and "instance_id" in v.attributes
        }
        return frozenset(self.warned) | evicted


def review_interruptions(
    messages: Sequence[Message],
    views: Sequence[AgentView],
    groups: Mapping[str, ObservedGroup],
    warned: Mapping[str, datetime],
    now: datetime,
) -> Interrupted:
    """What the messages come to; `warned` (instance -> when) are earlier Spot warnings for
    instances that had no agent then, acted on now if their agent has registered."""
    out = Interrupted()
    agent_of = {str(v.attributes["instance_id"]): v for v in views if "instance_id" in v.attributes}
    group_of = {i.instance_id: g for g in groups.values() for i in g.instances if not i.leaving}
    for instance, at in sorted(warned.items()):
        group = group_of.get(instance)
        if group is None:
            continue  # gone: nothing left to remember
        view = agent_of.get(instance)
        if view is None:
            out.warned[instance] = at  # still booting: kept until its agent registers
            continue
        # Registered: acted on once, as the warning itself would be; from here its cordon
        # intent (reclaim) evicts it every pass, and the memory is let go.
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        _reclaimed(out, f"Spot interruption warning for {instance} at {stamp}", view, group)
        out.notes.append(("acted", f"warned at {stamp} while booting: agent {view.id}"))
    seen: set[str] = set()
    for message in messages:
        try:
            event = parse_event(message.body)
        except BadEventError as error:
            out.notes.append(
                ("bad", f"message {message.id}: {error}; left for the dead-letter queue")
            )
            continue
        out.done.append(message)
        if event is None:
            out.notes.append(("ignored", f"message {message.id}: not an event acted on"))
            continue
        if event.id in seen:
            out.notes.append(("duplicate", f"event {event.id} again in this pass"))
            continue
        seen.add(event.id)
        for instance in event.instance_ids:
            group = group_of.get(instance)
            view = agent_of.get(instance)
            if event.kind == "spot_interruption" and group is not None and view is None:
                out.warned.setdefault(instance, now)
            _one(out, event, instance, view, group)
    return out


def _one(
    out: Interrupted,
    event: InstanceEvent,
    instance: str,
    view: AgentView | None,
    group: ObservedGroup | None,
) -> None:
    why = event.summary
    if group is not None and view is None and event.kind == "spot_interruption":
        out.back_off[group.name] = f"{why}: {group.zone} is being reclaimed"
        out.notes.append(("booting", f"{why}: no agent yet; cordoned when it registers"))
        return
    if group is None or view is None:
        where = "no managed group" if group is None else "no agent"
        out.notes.append(("unknown", f"{why}: {where} has it; nothing to do"))
        return
    if event.kind == "terminating":
        out.notes.append(("hook", f"{why}: the termination hook drains it"))
        return
    if event.kind == "spot_interruption":
        _reclaimed(out, why, view, group)
    else:
        if event.kind in ("rebalance", "scheduled_change"):
            _cordon(out, why, view, group)
        if event.kind == "state_change":
            out.evict[view.id] = f"{why}: relaunched elsewhere"
    out.notes.append(("acted", f"{why}: agent {view.id}"))


def _reclaimed(out: Interrupted, why: str, view: AgentView, group: ObservedGroup) -> None:
    """AWS takes the instance in two minutes: cordon for good, relaunch, back off."""
    _cordon(out, why, view, group)
    out.evict[view.id] = f"{why}: relaunched elsewhere"
    out.back_off[group.name] = f"{why}: {group.zone} is being reclaimed"


def _cordon(out: Interrupted, why: str, view: AgentView, group: ObservedGroup) -> None:
    instance = str(view.attributes.get("instance_id", ""))
    out.cordons.setdefault(
        view.id,
        Cordon(
            pool=group.pool,
            agent=view.id,
            instance_id=instance or None,
            asg=group.name,
            zone=group.zone,
            reason=f"{why}: cordoned, never given back",
        ),
    )


def evict(
    seen: Observed, port: Relocator | None, guard: Callable[[], None], *, dry_run: bool
) -> list[ActionResult]:
    """Relaunch the framework's own tasks on instances AWS is taking back (others are
    reported); then one result per message taken."""
    out: list[ActionResult] = []
    asg = {a.id: a.asg or "" for a in seen.snapshot.agents}
    views = {v.id: v for v in seen.views}
    for agent_id, why in sorted(seen.interrupted.evict.items()):
        view = views.get(agent_id)
        group = asg.get(agent_id, "")
        for task in view.tasks if view is not None else ():
            guard()
            if not task.live or port is None or port.state(task.id) is None:
                note = f"task {task.id} on {agent_id} is not ours: reported, not moved ({why})"
                out.append(ActionResult("interruption", group, "done", note))
                continue
            outcome: ActionOutcome = "dry_run"
            if not dry_run:
                outcome = "done" if port.relocate(task.id, why) else "failed"
            out.append(ActionResult("relocate", group, outcome, f"task {task.id}: {why}"))
    for kind, note in seen.interrupted.notes:
        failed: ActionOutcome = "failed" if kind in ("bad", "unreadable") else "done"
        out.append(ActionResult("interruption", "", failed, f"{kind}: {note}"))
    return out
