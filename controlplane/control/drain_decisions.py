"""What to do next with each stored drain intent, and with instances a group holds back.

Pure decisions (no calls, no clock): the reconcile pass gives the intents, what Mesos and
AWS show now, and the time; it gets back one step per intent, with why. The scale-down
protocol is two-phase so that no instance is terminated on a stale picture:

1. `deactivating`: intent stored, then DEACTIVATE_AGENT (no more offers, tasks keep running).
2. `deactivated`: Mesos said yes. On a later observation that shows the agent deactivated
   and empty (for `drain_settle_s`), the instance is terminated with decrement.
3. `terminating`: the terminate call was made (or the instance is already gone); the
   intent is forgotten once Mesos drops the agent.

An agent that shows tasks again before step 3 is reactivated and its intent dropped,
unless the intent is a consolidation cordon: that agent was deactivated with its tasks and
waits for them to end (a plan gives it back when waiting work needs its room).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from controlplane.aws.replies import ObservedGroup, ObservedInstance
from controlplane.mesos.observe import marked
from controlplane.mesos.replies import AgentView
from controlplane.state import DrainIntent

StepKind = Literal[
    "deactivate",  # (re)send DEACTIVATE_AGENT
    "terminate",  # drained: terminate the instance with decrement
    "confirm",  # observed deactivated and empty: phase -> deactivated, wait to settle
    "mark_terminating",  # the instance is already gone or leaving
    "reactivate",  # work arrived again: REACTIVATE_AGENT and forget the intent
    "forget",  # nothing left to do
    "wait",  # nothing to do this pass
]


@dataclass(frozen=True)
class IntentStep:
    kind: StepKind
    intent: DrainIntent
    why: str


def busy(view: AgentView) -> bool:
    """Live tasks, or resources still allocated (an executor winding down counts)."""
    return bool(view.tasks) or any(v > 0 for v in view.used.values())


def quiet(view: AgentView) -> bool:
    """Deactivated or drained by Mesos, and empty: the only state we terminate from."""
    return not busy(view) and (not view.active or view.drain_state is not None)


def review(
    intents: Mapping[str, DrainIntent],
    agents: Mapping[str, AgentView],
    groups: Mapping[str, ObservedGroup],
    now: datetime,
    *,
    settle_s: float,
    forget_after_s: float,
) -> list[IntentStep]:
    """One step per intent, in agent-id order."""
    return [
        _step(intents[agent_id], agents.get(agent_id), groups, now, settle_s, forget_after_s)
        for agent_id in sorted(intents)
    ]


def _step(
    intent: DrainIntent,
    view: AgentView | None,
    groups: Mapping[str, ObservedGroup],
    now: datetime,
    settle_s: float,
    forget_after_s: float,
) -> IntentStep:
    age = (now - intent.updated_at).total_seconds()
    if intent.phase == "terminating":
        if view is None:
            return IntentStep("forget", intent, "agent left Mesos after its instance went")
        if age >= forget_after_s:
            return IntentStep(
                "forget", intent, f"instance gone {age:.0f}s ago; agent still registered"
            )
        return IntentStep("wait", intent, "waiting for Mesos to drop the agent")
    if view is None:
        # Mesos forgets agents for a while when its master fails over: the intent stays
        # (the agent is still deactivated) until the agent returns or its instance goes.
        instance = _instance(intent, groups)
        if instance is None or instance.leaving:
            return IntentStep("forget", intent, "agent and instance are both gone")
        return IntentStep("wait", intent, "agent not in Mesos now; kept until it returns")
    if marked(view):
        return IntentStep("reactivate", intent, "agent marked do-not-disrupt")
    if busy(view):
        if view.drain_state is not None:  # REACTIVATE is refused while DRAINING
            return IntentStep("forget", intent, "agent busy under an operator's drain")
        if intent.cordon:  # consolidation: deactivated with its tasks, it waits for them
            if view.active and intent.phase == "deactivating":
                return IntentStep("deactivate", intent, "cordon not confirmed yet")
            if view.active:
                return IntentStep("forget", intent, "cordon lifted outside the control plane")
            return IntentStep("wait", intent, f"cordoned; {len(view.tasks)} tasks still running")
        return IntentStep("reactivate", intent, f"agent received work again ({len(view.tasks)})")
    if view.active and view.drain_state is None:
        if intent.phase == "deactivating":
            return IntentStep("deactivate", intent, "deactivation not confirmed yet")
        return IntentStep("forget", intent, "agent was reactivated outside the control plane")
    instance = _instance(intent, groups)
    if instance is None:
        return IntentStep("mark_terminating", intent, "instance is no longer in its group")
    if instance.leaving:
        return IntentStep("mark_terminating", intent, f"instance is {instance.lifecycle_state}")
    if intent.phase == "deactivating":
        if settle_s > 0:
            return IntentStep("confirm", intent, "deactivated and empty; settling")
        return IntentStep("terminate", intent, "deactivated and empty")
    if age < settle_s:
        return IntentStep("wait", intent, f"deactivated {age:.0f}s of {settle_s:.0f}s settle")
    return IntentStep("terminate", intent, "deactivated and empty")


def _instance(intent: DrainIntent, groups: Mapping[str, ObservedGroup]) -> ObservedInstance | None:
    if intent.asg is None or intent.instance_id is None:
        return None
    group = groups.get(intent.asg)
    return None if group is None else group.instance(intent.instance_id)


@dataclass(frozen=True)
class HeldInstance:
    """An instance the group itself is terminating, held by our lifecycle hook."""

    asg: str
    instance_id: str
    agent: AgentView | None
    #: Safe to release: no agent, or the agent is deactivated and empty.
    drained: bool
    #: The agent still takes offers; deactivate it so no new work lands there.
    deactivate: bool


def held_instances(
    waiting: list[tuple[str, ObservedInstance]], by_instance: Mapping[str, AgentView]
) -> list[HeldInstance]:
    """Drain decisions for instances in Terminating:Wait (AZRebalance, a manual change)."""
    out = []
    for asg, inst in waiting:
        view = by_instance.get(inst.instance_id)
        if view is None:
            out.append(HeldInstance(asg, inst.instance_id, None, drained=True, deactivate=False))
            continue
        taking = view.active and view.drain_state is None and not marked(view)
        drained = quiet(view) and not marked(view)  # held (heartbeats) while marked
        out.append(HeldInstance(asg, inst.instance_id, view, drained=drained, deactivate=taking))
    return out
