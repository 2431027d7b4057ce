"""Carry out drain steps: Mesos deactivation, terminations, lifecycle-hook releases.

`drains.py` decides; this module makes the calls and turns each into an `ActionResult`
plus the intent records to store. A failed call leaves its intent as it was, so the next
pass tries again; nothing here raises for an API error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from controlplane.aws.actions import ActionOutcome, ActionResult
from controlplane.aws.fleet_writes import FleetWriter
from controlplane.control.drain_decisions import HeldInstance, IntentStep, quiet
from controlplane.mesos.observe import marked
from controlplane.mesos.replies import AgentView, MesosError
from controlplane.model import Cordon, ScaleDown
from controlplane.state import DrainIntent

log = logging.getLogger(__name__)


class MesosAgentCalls(Protocol):
    """What draining needs from the operator API (a structural subset of OperatorClient)."""

    def deactivate_agent(self, agent_id: str) -> None: ...
    def reactivate_agent(self, agent_id: str) -> None: ...
    def agents_only(self) -> list[AgentView]: ...


class DrainActs:
    """One pass's drain work; `results`, `puts` and `deletes` say what happened."""

    def __init__(
        self,
        writer: FleetWriter,
        mesos: MesosAgentCalls,
        *,
        token: int,
        dry_run: bool,
        guard: Callable[[], None],
    ) -> None:
        self.writer = writer
        self.mesos = mesos
        self.token = token
        self.dry_run = dry_run
        self.guard = guard
        self.results: list[ActionResult] = []
        self.puts: dict[str, DrainIntent] = {}
        self.deletes: set[str] = set()

    # ---- stored intents -----------------------------------------------------------------

    def follow(self, steps: Sequence[IntentStep], now: datetime) -> None:
        """Move every stored intent one step; terminations go out in one batch."""
        terminate: list[IntentStep] = []
        for step in steps:
            intent = step.intent
            if step.kind == "wait":
                continue
            if step.kind == "forget":
                self._note("drain", intent, f"intent forgotten: {step.why}")
                self.deletes.add(intent.agent_id)
            elif step.kind in {"confirm", "mark_terminating"}:
                phase = "deactivated" if step.kind == "confirm" else "terminating"
                self._put(intent, phase, now)
                self._note("drain", intent, f"{phase}: {step.why}")
            elif step.kind == "deactivate":
                if self._mesos("deactivate", intent, step.why):
                    self._put(intent, "deactivated", now)
            elif step.kind == "reactivate":
                self._reactivate(intent, step.why)
            else:
                terminate.append(step)
        if terminate:
            self._terminate(terminate, now)

    def _terminate(self, steps: list[IntentStep], now: datetime) -> None:
        actions = [_scale_down(s.intent) for s in steps]
        drained = {a.instance_id: True for a in actions if a.instance_id is not None}
        self.guard()
        results = self.writer.scale_down(actions, drained)
        for step, result in zip(steps, results[: len(steps)], strict=True):
            self.results.append(result)
            if result.outcome == "done" or result.skip == "already_leaving":
                self._put(step.intent, "terminating", now)
            elif result.skip == "at_min":
                # The group may not shrink (its min was raised): give the agent back.
                self._reactivate(step.intent, result.detail)
        self.results.extend(results[len(steps) :])  # weighted groups' desired restated

    def _reactivate(self, intent: DrainIntent, why: str) -> None:
        if self._mesos("reactivate", intent, why):
            self.deletes.add(intent.agent_id)

    # ---- new drains ---------------------------------------------------------------------

    def start(
        self,
        scale_downs: Sequence[ScaleDown | Cordon],
        existing: Mapping[str, DrainIntent],
        now: datetime,
    ) -> list[DrainIntent]:
        """Intents (phase `deactivating`) for the plan's new scale-downs and cordons, not yet
        stored; a cordon's intent waits for the agent's tasks to end."""
        out: list[DrainIntent] = []
        for action in scale_downs:
            if action.agent in existing:
                continue
            if action.instance_id is None:
                self.results.append(
                    ActionResult.skipped(
                        "drain", action.asg, "no_instance", f"agent {action.agent}: no instance id"
                    )
                )
                continue
            out.append(
                DrainIntent(
                    agent_id=action.agent,
                    instance_id=action.instance_id,
                    asg=action.asg,
                    pool=action.pool,
                    zone=action.zone,
                    reason=action.reason,
                    phase="deactivating",
                    created_at=now,
                    updated_at=now,
                    token=self.token,
                    cordon=isinstance(action, Cordon),
                )
            )
        return out

    def uncordon(self, intents: Sequence[DrainIntent], why: Mapping[str, str]) -> None:
        """Give cordoned agents back (REACTIVATE_AGENT) and forget their intents."""
        for intent in intents:
            self._reactivate(intent, why[intent.agent_id])

    def deactivate_new(self, intents: Sequence[DrainIntent], now: datetime) -> None:
        """Deactivate each newly stored intent's agent; success moves it to `deactivated`."""
        for intent in intents:
            if self._mesos("deactivate", intent, intent.reason):
                self._put(intent, "deactivated", now)

    def terminate_confirmed(self, intents: Sequence[DrainIntent], now: datetime) -> None:
        """Idle drains this pass deactivated, terminated in the same pass when Mesos, read
        again after the deactivation, shows each deactivated and empty.

        The master handles calls in order: once DEACTIVATE_AGENT has answered, the agent's
        offers are rescinded and a launch on them fails, and a launch it took before shows
        in the agent's allocation. A read after the answer is as sound as the next pass's
        and saves one pass of an idle instance per drain. An agent that shows work, or a
        read that fails, is left to the next pass (the two-phase path)."""
        due = [
            self.puts[i.agent_id]
            for i in intents
            if not i.cordon
            and i.agent_id in self.puts
            and self.puts[i.agent_id].phase == "deactivated"
        ]
        if not due or self.dry_run:
            return
        self.guard()
        try:
            views = {v.id: v for v in self.mesos.agents_only()}
        except MesosError as error:
            log.warning("drains wait for the next pass: agents not read again: %s", error)
            return
        steps = []
        for intent in due:
            view = views.get(intent.agent_id)
            if view is not None and quiet(view) and not marked(view):
                why = "deactivated and empty (read again after the deactivation)"
                steps.append(IntentStep("terminate", intent, why))
        if steps:
            self._terminate(steps, now)

    # ---- lifecycle hook -----------------------------------------------------------------

    def settle_held(self, held: Sequence[HeldInstance]) -> None:
        """Deactivate held instances' agents; release (CONTINUE) the drained ones."""
        for item in held:
            if item.deactivate and item.agent is not None:
                self.guard()
                self._call_mesos("deactivate", item.agent.id, item.asg, item.instance_id, "held")
        if not held:
            return
        self.guard()
        drained = {h.instance_id: h.drained for h in held}
        self.results += self.writer.settle_held(drained)

    # ---- plumbing -----------------------------------------------------------------------

    def _mesos(self, verb: str, intent: DrainIntent, why: str) -> bool:
        self.guard()
        return self._call_mesos(verb, intent.agent_id, intent.asg, intent.instance_id, why)

    def _call_mesos(
        self, verb: str, agent_id: str, asg: str | None, instance_id: str | None, why: str
    ) -> bool:
        """DEACTIVATE/REACTIVATE_AGENT; True when it was done (not in dry-run, not failed)."""
        detail = f"{verb} agent {agent_id}: {why}"
        if self.dry_run:
            log.info("dry-run: would %s", detail)
            self.results.append(ActionResult(verb, asg or "-", "dry_run", detail, instance_id))
            return False
        call = self.mesos.deactivate_agent if verb == "deactivate" else self.mesos.reactivate_agent
        try:
            call(agent_id)
        except MesosError as error:
            failed = f"{detail}: {error}"
            self.results.append(ActionResult(verb, asg or "-", "failed", failed, instance_id))
            return False
        self.results.append(ActionResult(verb, asg or "-", "done", detail, instance_id))
        return True

    def _put(self, intent: DrainIntent, phase: str, now: datetime) -> None:
        self.puts[intent.agent_id] = intent.model_copy(
            update={"phase": phase, "updated_at": now, "token": self.token}
        )

    def _note(self, kind: str, intent: DrainIntent, detail: str) -> None:
        outcome: ActionOutcome = "dry_run" if self.dry_run else "done"
        self.results.append(
            ActionResult(kind, intent.asg or "-", outcome, detail, intent.instance_id)
        )


def _scale_down(intent: DrainIntent) -> ScaleDown:
    return ScaleDown(
        pool=intent.pool,
        agent=intent.agent_id,
        instance_id=intent.instance_id,
        asg=intent.asg or "-",
        zone=intent.zone,
        reason=intent.reason,
    )
