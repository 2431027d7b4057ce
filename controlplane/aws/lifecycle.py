"""Holding ASG-initiated terminations until the agent is drained.

The deployment puts a termination lifecycle hook (`AdapterSettings.termination_hook`) on
every group, so an instance the group itself decides to remove (AZRebalance, a health
replacement, a manual desired change) waits in `Terminating:Wait`. Each pass, such an
instance is held with a heartbeat while its agent still runs tasks and released with
CONTINUE once the Mesos side reports it drained. Starting the drain is the reconcile pass's
job: `waiting_terminations` lists what needs it.
"""

from __future__ import annotations

from collections.abc import Mapping

from controlplane.aws.actions import ActionOutcome, ActionResult
from controlplane.aws.calls import AwsCaller, BotoClient
from controlplane.aws.errors import AwsCallError
from controlplane.aws.observation import AwsObservation
from controlplane.aws.replies import TERMINATING_WAIT, ObservedInstance

#: CompleteLifecycleAction's reply when the action was already completed or timed out.
_NO_ACTIVE_ACTION = "No active Lifecycle Action"


def waiting_terminations(observation: AwsObservation) -> list[tuple[str, ObservedInstance]]:
    """(group, instance) for every instance our hook holds in Terminating:Wait."""
    return [
        (name, inst)
        for name, group in sorted(observation.groups.items())
        for inst in group.instances
        if inst.lifecycle_state == TERMINATING_WAIT
    ]


def settle_terminations(
    caller: AwsCaller,
    autoscaling: BotoClient,
    observation: AwsObservation,
    drained: Mapping[str, bool],
    hook: str,
) -> list[ActionResult]:
    """Heartbeat held instances not yet drained; CONTINUE those with `drained[id] is True`.

    Release needs an explicit True: an instance whose state the caller does not know stays
    held (the hook's own timeout is the last resort), because releasing kills its tasks.
    """
    results: list[ActionResult] = []
    for asg, inst in waiting_terminations(observation):
        iid = inst.instance_id
        release = drained.get(iid) is True
        where = {"LifecycleHookName": hook, "AutoScalingGroupName": asg, "InstanceId": iid}
        try:
            if release:
                reply = caller.write(
                    autoscaling,
                    "CompleteLifecycleAction",
                    idempotent=False,
                    LifecycleActionResult="CONTINUE",
                    **where,
                )
                detail = "drained: termination released (CONTINUE)"
            else:
                reply = caller.write(
                    autoscaling, "RecordLifecycleActionHeartbeat", idempotent=True, **where
                )
                detail = "still has tasks: termination held (heartbeat)"
        except AwsCallError as error:
            if release and _NO_ACTIVE_ACTION in error.api_message:
                results.append(
                    ActionResult.skipped("lifecycle", asg, "released", "already released", iid)
                )
                continue
            results.append(ActionResult("lifecycle", asg, "failed", str(error), iid))
            continue
        outcome: ActionOutcome = "dry_run" if reply is None else "done"
        results.append(ActionResult("lifecycle", asg, outcome, detail, iid))
    return results
