"""Plan actions into Auto Scaling calls, each safe to retry and checked against the group.

The planner decides what to do; this module refuses what would be unsafe given the group
as observed: desired above max or below min, terminating an instance that is not drained,
not in the named group, or already on its way out. Every action returns a result saying
what happened and why, so the reconcile pass can record it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from controlplane.aws.calls import AwsCaller, BotoClient
from controlplane.aws.capacity import CapacityLedger, Takeback, record_raise
from controlplane.aws.errors import AwsError, UnsafeActionError
from controlplane.aws.observation import AwsObservation
from controlplane.aws.replies import ObservedGroup
from controlplane.model import ScaleDown, ScaleUp

log = logging.getLogger(__name__)

ActionOutcome = Literal["done", "dry_run", "skipped", "failed"]
#: Why an action was skipped, for code to branch on (the detail is for people).
SkipReason = Literal[
    "not_positive",  # a scale-up of zero
    "backed_off",  # the zone is backed off
    "at_max",  # the group is at its max
    "at_min",  # the group is at its min: it may not shrink
    "no_instance",  # the agent names no instance
    "already_leaving",  # the instance is terminating or terminated
    "not_drained",  # the agent is not (yet) deactivated and empty
    "group_gone",  # the group no longer exists
    "delivered",  # nothing to take back
    "released",  # the lifecycle action was completed already
    "halted",  # scale-down halted in the pool (controlplane.control.registration)
]
#: SetInstanceProtection takes at most this many instance ids per call.
PROTECT_PER_CALL = 50
#: SetInstanceProtection calls in flight at once (within the API's rate: throttling is
#: retried per call with jittered backoff).
PROTECT_WORKERS = 8


@dataclass(frozen=True)
class ActionResult:
    """What one action did: `done`, `dry_run` (logged only), `skipped` or `failed`."""

    kind: str
    asg: str
    outcome: ActionOutcome
    detail: str
    instance_id: str | None = None
    #: Set exactly when `outcome` is `skipped`.
    skip: SkipReason | None = None

    @classmethod
    def skipped(
        cls, kind: str, asg: str, skip: SkipReason, detail: str, instance_id: str | None = None
    ) -> ActionResult:
        return cls(kind, asg, "skipped", detail, instance_id, skip)


@dataclass(frozen=True)
class Expired:
    """An instance past its registration deadline (`controlplane.control.registration`
    decides which): terminate it."""

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


def _group(observation: AwsObservation, asg: str, pool: str, zone: str) -> ObservedGroup:
    group = observation.groups.get(asg)
    if group is None:
        raise UnsafeActionError(f"plan names group {asg!r}, which is not a discovered group")
    if group.pool != pool or group.zone != zone:
        raise UnsafeActionError(
            f"plan puts group {asg} in pool {pool!r}, zone {zone!r}; it is pool "
            f"{group.pool!r}, zone {group.zone!r}"
        )
    return group


def _set_desired(
    caller: AwsCaller,
    autoscaling: BotoClient,
    kind: str,
    group: ObservedGroup,
    target: int,
    detail: str,
) -> ActionResult:
    """SetDesiredCapacity to an absolute value (safe to repeat), as a result, never a raise.

    `target` counts instances; a weighted group is sent the units that bring at least that
    many (`weights.py`), and the detail says both."""
    value = group.desired_value(target)
    if group.units is not None:
        detail = f"{detail} [{value} capacity units, heaviest type {group.units.heaviest}]"
    return _write_desired(caller, autoscaling, kind, group.name, value, detail)


def _write_desired(
    caller: AwsCaller, autoscaling: BotoClient, kind: str, asg: str, value: int, detail: str
) -> ActionResult:
    """The one SetDesiredCapacity call (the value as AWS counts it: instances or units)."""
    try:
        reply = caller.write(
            autoscaling,
            "SetDesiredCapacity",
            idempotent=True,
            AutoScalingGroupName=asg,
            DesiredCapacity=value,
            HonorCooldown=False,
        )
    except AwsError as error:
        return ActionResult(kind, asg, "failed", str(error))
    return ActionResult(kind, asg, "dry_run" if reply is None else "done", detail)


def apply_scale_ups(
    caller: AwsCaller,
    autoscaling: BotoClient,
    actions: Sequence[ScaleUp],
    observation: AwsObservation,
    ledger: CapacityLedger,
    now: datetime,
) -> tuple[list[ActionResult], CapacityLedger]:
    """SetDesiredCapacity(desired + n) per action, clamped to max, skipping backed-off zones.

    The desired value sent is absolute, so repeating a pass on the same observation sets the
    same value again instead of adding twice. Raises are recorded in the returned ledger.
    """
    # Check every action before the first write, so a bad one cannot strand earlier raises
    # outside the returned ledger.
    targets = [_group(observation, a.asg, a.pool, a.zone) for a in actions]
    results: list[ActionResult] = []
    desired: dict[str, int] = {}
    for action, group in zip(actions, targets, strict=True):
        current = desired.get(group.name, group.desired)
        blocked = ledger.unavailable_until(group.name, now)
        if action.count <= 0:
            results.append(
                ActionResult.skipped(
                    "scale_up", group.name, "not_positive", "count is not positive"
                )
            )
            continue
        if blocked is not None:
            detail = f"zone {group.zone} backed off until {blocked.isoformat()}"
            results.append(ActionResult.skipped("scale_up", group.name, "backed_off", detail))
            continue
        target = min(current + action.count, group.max)
        if target <= current:
            detail = f"at max {group.max} (desired {current})"
            results.append(ActionResult.skipped("scale_up", group.name, "at_max", detail))
            continue
        clamp = f" (clamped to max {group.max})" if target < current + action.count else ""
        detail = f"desired {current} -> {target}{clamp}: {action.reason}"
        result = _set_desired(caller, autoscaling, "scale_up", group, target, detail)
        results.append(result)
        if result.outcome == "done":
            desired[group.name] = target
            ledger = record_raise(ledger, group.name, current, target, now)
    return results, ledger


def apply_scale_downs(
    caller: AwsCaller,
    autoscaling: BotoClient,
    actions: Sequence[ScaleDown],
    observation: AwsObservation,
    drained: Mapping[str, bool],
) -> list[ActionResult]:
    """Terminate each named instance with decrement, only when `drained[instance_id]` is True.

    Skips instances already leaving and any that would take the group below min. The
    instance is unprotected just before its termination (it was protected while busy).
    An unknown instance fails that action with a clear message; the others still run.
    Returns one result per action, in order, then one per weighted group whose desired
    units were restated (`_settle_units`).
    """
    results: list[ActionResult] = []
    desired: dict[str, int] = {}
    done: set[str] = set()
    for action in actions:
        try:
            group = _group(observation, action.asg, action.pool, action.zone)
            results.append(
                _terminate_one(caller, autoscaling, action, group, drained, desired, done)
            )
        except AwsError as error:
            iid = action.instance_id
            results.append(ActionResult("scale_down", action.asg, "failed", str(error), iid))
    for name in sorted({r.asg for r in results if r.outcome == "done"}):
        results.extend(_settle_units(caller, autoscaling, observation.groups[name], done))
    return results


def _settle_units(
    caller: AwsCaller, autoscaling: BotoClient, group: ObservedGroup, done: Collection[str]
) -> list[ActionResult]:
    """A weighted group's desired, in units, once its terminated instances' weights are off.

    AWS takes each instance's weight off desired; an API (or emulator) that took off 1 would
    leave units that relaunch instances. Saying the absolute value is a no-op in the first
    case and the correction in the second."""
    if group.units is None:
        return []
    gone = [i for i in group.instances if i.instance_id in done]
    value = max(group.units.min, group.units.desired - sum(i.weight or 0 for i in gone))
    detail = f"{len(gone)} instances terminated: desired {value} capacity units"
    return [_write_desired(caller, autoscaling, "restate_units", group.name, value, detail)]


def _terminate_one(
    caller: AwsCaller,
    autoscaling: BotoClient,
    action: ScaleDown,
    group: ObservedGroup,
    drained: Mapping[str, bool],
    desired: dict[str, int],
    done: set[str],
) -> ActionResult:
    iid = action.instance_id
    if iid is None:
        return ActionResult.skipped(
            "scale_down", group.name, "no_instance", f"agent {action.agent} has no instance id"
        )
    instance = group.instance(iid)
    if instance is None:
        raise UnsafeActionError(
            f"instance {iid} (agent {action.agent}) is not an instance of group {group.name}"
        )
    if iid in done or instance.leaving:
        state = "terminated in this pass" if iid in done else instance.lifecycle_state
        return ActionResult.skipped(
            "scale_down", group.name, "already_leaving", f"already {state}", iid
        )
    if drained.get(iid) is not True:
        return ActionResult.skipped("scale_down", group.name, "not_drained", "not drained yet", iid)
    current = desired.get(group.name, group.desired)
    if current - 1 < group.min:
        detail = f"group at min {group.min} (desired {current})"
        return ActionResult.skipped("scale_down", group.name, "at_min", detail, iid)
    if instance.protected:
        caller.write(
            autoscaling,
            "SetInstanceProtection",
            idempotent=True,
            AutoScalingGroupName=group.name,
            InstanceIds=[iid],
            ProtectedFromScaleIn=False,
        )
    reply = caller.write(
        autoscaling,
        "TerminateInstanceInAutoScalingGroup",
        idempotent=False,
        InstanceId=iid,
        ShouldDecrementDesiredCapacity=True,
    )
    detail = f"desired {current} -> {current - 1}: {action.reason}"
    if reply is None:
        return ActionResult("scale_down", group.name, "dry_run", detail, iid)
    desired[group.name] = current - 1
    done.add(iid)
    return ActionResult("scale_down", group.name, "done", detail, iid)


def protect_busy(
    caller: AwsCaller,
    autoscaling: BotoClient,
    observation: AwsObservation,
    busy: Collection[str],
) -> list[ActionResult]:
    """Protect from scale-in every instance running tasks that is not protected yet.

    Then neither AZRebalance nor a desired-capacity change can pick a busy instance. Only
    changed flags are written, so a quiet fleet costs no call. Calls take the API's 50
    instances each and go out `PROTECT_WORKERS` at a time (a cold pass at 10,000 agents
    makes ~200 of them: one after another they were most of its time); each keeps its
    own bounded retries, and the results come back in group and batch order.
    """
    calls = []
    for name, group in sorted(observation.groups.items()):
        wanted = sorted(
            i.instance_id
            for i in group.instances
            if i.instance_id in busy and not i.protected and not i.leaving
        )
        calls += [
            (name, wanted[start : start + PROTECT_PER_CALL])
            for start in range(0, len(wanted), PROTECT_PER_CALL)
        ]

    def protect(call: tuple[str, list[str]]) -> ActionResult:
        name, batch = call
        try:
            reply = caller.write(
                autoscaling,
                "SetInstanceProtection",
                idempotent=True,
                AutoScalingGroupName=name,
                InstanceIds=batch,
                ProtectedFromScaleIn=True,
            )
        except AwsError as error:
            return ActionResult("protect", name, "failed", str(error))
        outcome: ActionOutcome = "dry_run" if reply is None else "done"
        detail = f"protected {len(batch)} busy: {', '.join(batch)}"
        return ActionResult("protect", name, outcome, detail)

    if len(calls) <= 1:
        return [protect(c) for c in calls]
    with ThreadPoolExecutor(min(PROTECT_WORKERS, len(calls)), "protect") as pool:
        return list(pool.map(protect, calls))


def apply_takebacks(
    caller: AwsCaller,
    autoscaling: BotoClient,
    takebacks: Sequence[Takeback],
    observation: AwsObservation,
) -> list[ActionResult]:
    """Lower desired by what a failed zone did not deliver (never below min or present)."""
    results: list[ActionResult] = []
    for back in takebacks:
        group = observation.groups.get(back.asg)
        if group is None:
            results.append(
                ActionResult.skipped("take_back", back.asg, "group_gone", "group is gone")
            )
            continue
        target = max(back.desired, group.min, group.present)
        if target >= group.desired:
            detail = f"desired {group.desired} already delivered or at min"
            results.append(ActionResult.skipped("take_back", back.asg, "delivered", detail))
            continue
        detail = f"desired {group.desired} -> {target}: {back.reason}"
        results.append(_set_desired(caller, autoscaling, "take_back", group, target, detail))
    return results


def expire_instances(
    caller: AwsCaller, autoscaling: BotoClient, expired: Sequence[Expired]
) -> list[ActionResult]:
    """Terminate instances past their registration deadline (with decrement unless the
    group is at min, where AWS launches a replacement). They run no task: no agent ever
    registered for them, and protected (once busy) instances are never expired."""
    results: list[ActionResult] = []
    for item in expired:
        log.warning("registration deadline: %s (group %s)", item.reason, item.asg)
        try:
            reply = caller.write(
                autoscaling,
                "TerminateInstanceInAutoScalingGroup",
                idempotent=False,
                InstanceId=item.instance_id,
                ShouldDecrementDesiredCapacity=item.decrement,
            )
        except AwsError as error:
            results.append(ActionResult("expire", item.asg, "failed", str(error), item.instance_id))
            continue
        how = "with decrement" if item.decrement else "replaced (group at min)"
        outcome: ActionOutcome = "dry_run" if reply is None else "done"
        detail = f"terminated {how}: {item.reason}; zone {item.zone} backed off"
        results.append(ActionResult("expire", item.asg, outcome, detail, item.instance_id))
    return results
