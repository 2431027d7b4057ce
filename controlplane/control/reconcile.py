"""One reconcile pass: observe (Mesos + AWS + demand) -> snapshot -> plan -> act -> record.

Idempotent: a second pass on the same world acts no further (desired capacities are
absolute, drained agents are `draining` to the planner, intents are stored). Nothing is
done on a picture the pass could not fully read: any observation error stops it before the
first write. Every act step first checks the lease, and every state write is fenced by its
token, so a pass that lost leadership half-way acts no further.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol, TypeVar

from controlplane.aws.actions import (
    ActionResult,
    Expired,
    apply_scale_ups,
    apply_takebacks,
    expire_instances,
    protect_busy,
)
from controlplane.aws.calls import AwsCaller, BotoClient
from controlplane.aws.capacity import CapacityLedger, Takeback, assess_delivery, back_off
from controlplane.aws.lifecycle import waiting_terminations
from controlplane.aws.observation import AwsObservation, AwsObserver
from controlplane.aws.pool_rules import AdapterSettings
from controlplane.aws.replies import ObservedGroup
from controlplane.control.assemble import Assembly, assemble
from controlplane.control.drain_calls import DrainActs
from controlplane.control.drain_decisions import IntentStep, busy, held_instances, review
from controlplane.control.pass_files import PassRecorder
from controlplane.control.registration import RegistrationReview, review_registrations
from controlplane.demand import DemandSource
from controlplane.mesos.observe import observe_agents
from controlplane.mesos.replies import AgentView
from controlplane.model import Plan, Pool, PoolHistory, Snapshot
from controlplane.planning import plan as make_plan
from controlplane.state import ControlState, Lease, LeaseLostError, StateChanges, StateStore

log = logging.getLogger(__name__)
T = TypeVar("T")


class MesosOperator(Protocol):
    """The operator calls a pass needs (`controlplane.mesos.OperatorClient` has them)."""

    def agents(self) -> list[AgentView]: ...
    def deactivate_agent(self, agent_id: str) -> None: ...
    def reactivate_agent(self, agent_id: str) -> None: ...


class PassMetrics(Protocol):
    """What a pass reports (`controlplane.ops.metrics.ControlMetrics` implements it)."""

    def observe_pass(
        self,
        snapshot: Snapshot,
        plan: Plan,
        actions: Sequence[ActionResult],
        *,
        pool_of: Mapping[str, str],
        drains_in_progress: int,
        duration_s: float,
    ) -> None: ...

    def observe_groups(self, groups: Mapping[str, ObservedGroup]) -> None: ...

    def pass_failed(self, stage: str, duration_s: float) -> None: ...


@dataclass(frozen=True)
class PassOptions:
    dry_run: bool = False
    lease_margin_s: float = 5.0
    drain_settle_s: float = 0.0
    forget_terminated_after_s: float = 900.0
    registration_deadline_s: float = 900.0
    max_unregistered_share: float = 0.45
    ok_unregistered: int = 3


@dataclass(frozen=True)
class Observed:
    """One full reading of the world and the state, before any decision."""

    now: datetime
    state: ControlState
    views: list[AgentView]
    aws: AwsObservation
    ledger: CapacityLedger
    takebacks: list[Takeback]
    assembly: Assembly
    idle_since: dict[str, datetime]
    registrations: RegistrationReview

    @property
    def snapshot(self) -> Snapshot:
        return self.assembly.snapshot


PassOutcome = Literal["ok", "lost_lease", "abandoned", "failed"]


class PassAbandonedError(Exception):
    """The daemon is stopping: the pass makes no further call."""


@dataclass
class PassResult:
    outcome: PassOutcome
    stage: str = "done"
    error: str | None = None
    snapshot: Snapshot | None = None
    plan: Plan | None = None
    actions: list[ActionResult] = field(default_factory=list)
    drains_in_progress: int = 0
    duration_s: float = 0.0


class StageError(Exception):
    """An exception tagged with the pass stage it happened in."""

    def __init__(self, stage: str, cause: Exception) -> None:
        super().__init__(f"{stage}: {cause}")
        self.stage = stage
        self.cause = cause


class Reconciler:
    """Joins the adapters, the planner and the state store into one pass."""

    def __init__(
        self,
        *,
        caller: AwsCaller,
        autoscaling: BotoClient,
        observer: AwsObserver,
        adapter: AdapterSettings,
        mesos: MesosOperator,
        demand: DemandSource,
        store: StateStore,
        options: PassOptions,
        clock: Callable[[], datetime],
        recorder: PassRecorder | None = None,
        metrics: PassMetrics | None = None,
    ) -> None:
        self.caller = caller
        self.autoscaling = autoscaling
        self.observer = observer
        self.adapter = adapter
        self.mesos = mesos
        self.demand = demand
        self.store = store
        self.options = options
        self.clock = clock
        self.recorder = recorder
        self.metrics = metrics
        self._abandon: threading.Event | None = None

    # ---- observe ------------------------------------------------------------------------

    def observe(self) -> Observed:
        """Read state, Mesos, AWS and demand; raise `StageError` on the first thing unreadable."""
        now = self.clock()
        state = _staged("load_state", self.store.load)
        views = _staged("observe_mesos", self.mesos.agents)
        aws = _staged("observe_aws", lambda: self.observer.observe(state.ledger, now))
        failures = _staged("observe_aws", lambda: self.observer.scaling_failures(state.ledger))
        ledger, takebacks = assess_delivery(state.ledger, aws.groups, failures, self.adapter, now)
        pending = _staged("observe_demand", self.demand.pending)
        mesos = _staged("observe_mesos", lambda: observe_agents(views, now, state.idle_since))
        for agent_id, why in sorted(mesos.skipped.items()):
            log.debug("agent %s left out: %s", agent_id, why)
        opts = self.options
        registrations = review_registrations(
            aws.groups,
            {str(v.attributes["instance_id"]) for v in views if "instance_id" in v.attributes},
            state.instances,
            now,
            deadline_s=opts.registration_deadline_s,
            max_unregistered_share=opts.max_unregistered_share,
            ok_unregistered=opts.ok_unregistered,
        )
        for expired in registrations.expired:
            ledger = back_off(ledger, expired.asg, expired.reason, self.adapter, now)
        pools = _without_expired(aws.pools, registrations.expired, ledger, now)
        assembly = _staged(
            "snapshot",
            lambda: assemble(
                now, pools, mesos.agents, pending, state.history, state.floors_at(now)
            ),
        )
        for agent_id, why in sorted(assembly.left_out_agents.items()):
            log.warning("agent %s left out of the snapshot: %s", agent_id, why)
        for task_id, why in sorted(assembly.left_out_tasks.items()):
            log.warning("pending task %s left out of the snapshot: %s", task_id, why)
        return Observed(
            now, state, views, aws, ledger, takebacks, assembly, mesos.idle_since, registrations
        )

    # ---- one pass -----------------------------------------------------------------------

    def run_pass(self, lease: Lease, abandon: threading.Event | None = None) -> PassResult:
        """Observe, plan, act and record under `lease`; never raises for expected failures.

        `abandon` set (the daemon is stopping) ends the pass at its next act step, before
        any further write, the same way a lost lease does.
        """
        started = time.perf_counter()
        result = PassResult("ok")
        self._abandon = abandon
        try:
            self._guard(lease)
            seen = self.observe()
            result.snapshot = seen.snapshot
            result.plan = _staged("plan", lambda: make_plan(seen.snapshot))
            if self.metrics is not None:
                self.metrics.observe_groups(seen.aws.groups)
            plan = result.plan
            result.actions, result.drains_in_progress = _staged(
                "act", lambda: self._act(lease, seen, plan)
            )
        except PassAbandonedError as error:
            result.outcome, result.stage, result.error = "abandoned", "stop", str(error)
        except LeaseLostError as error:
            result.outcome, result.stage, result.error = "lost_lease", "lease", str(error)
        except StageError as error:
            if isinstance(error.cause, LeaseLostError):
                result.outcome, result.stage = "lost_lease", "lease"
            else:
                result.outcome, result.stage = "failed", error.stage
                if error.stage == "act":  # not an expected failure: keep the traceback
                    log.error("pass failed while acting", exc_info=error.cause)
            result.error = str(error.cause)
        result.duration_s = time.perf_counter() - started
        self._report(result)
        return result

    def _report(self, result: PassResult) -> None:
        if result.outcome != "ok":
            log.error("pass %s at %s: %s", result.outcome, result.stage, result.error)
            if self.metrics is not None:
                self.metrics.pass_failed(result.stage, result.duration_s)
            return
        assert result.snapshot is not None and result.plan is not None
        if self.metrics is not None:
            pool_of = {g.asg: p.name for p in result.snapshot.pools for g in p.groups}
            self.metrics.observe_pass(
                result.snapshot,
                result.plan,
                result.actions,
                pool_of=pool_of,
                drains_in_progress=result.drains_in_progress,
                duration_s=result.duration_s,
            )
        done = [a for a in result.actions if a.outcome != "skipped"]
        log.info(
            "pass ok in %.3fs: %d pending, %d placed, %d new instances, %d drains, %d actions",
            result.duration_s,
            len(result.snapshot.pending),
            result.plan.summary.placed,
            result.plan.summary.new_instances,
            result.plan.summary.scale_down,
            len(done),
        )

    def _guard(self, lease: Lease) -> None:
        if self._abandon is not None and self._abandon.is_set():
            raise PassAbandonedError("the control plane is stopping")
        now = self.clock()
        if not lease.valid(now, self.options.lease_margin_s):
            raise LeaseLostError(
                f"lease of {lease.holder} (token {lease.token}) ends at "
                f"{lease.expires_at.isoformat()}; too close to act at {now.isoformat()}"
            )

    def _act(self, lease: Lease, seen: Observed, plan: Plan) -> tuple[list[ActionResult], int]:
        """Act on the plan; returns what was done and how many drains remain in progress."""
        opts = self.options

        def guard() -> None:
            self._guard(lease)

        out: list[ActionResult] = []
        guard()
        out += apply_takebacks(self.caller, self.autoscaling, seen.takebacks, seen.aws)
        guard()
        out += expire_instances(self.caller, self.autoscaling, seen.registrations.expired)
        guard()
        out += protect_busy(self.caller, self.autoscaling, seen.aws, _busy_instances(seen.views))
        guard()
        ups, ledger = apply_scale_ups(
            self.caller, self.autoscaling, plan.scale_up, seen.aws, seen.ledger, seen.now
        )
        out += ups
        history = dict(seen.snapshot.history)
        pool_of = {g.name: g.pool for g in seen.aws.groups.values()}
        for up in ups:
            if up.outcome == "done":
                _stamp(history, pool_of[up.asg], seen.now, up=True)
        wrote = any(r.outcome == "done" for r in out)
        if wrote and ledger != seen.state.ledger and not opts.dry_run:
            # Raises and expiries are recorded now, before anything later can fail the pass.
            guard()
            early = StateChanges(history=_changed(history, seen.state), ledger=ledger)
            _staged("record", lambda: self.store.commit(lease, self.clock(), early))
            seen = _with_state(seen, history, ledger)
        halted = seen.registrations.halted
        for pool, why in sorted(halted.items()):
            log.warning("pool %s: scale-down halted: %s", pool, why)
        scale_down = [d for d in plan.scale_down if d.pool not in halted]
        out += [
            ActionResult.skipped("drain", d.asg, "halted", f"agent {d.agent}: {halted[d.pool]}")
            for d in plan.scale_down
            if d.pool in halted
        ]

        acts = DrainActs(
            self.caller,
            self.autoscaling,
            self.mesos,
            seen.aws,
            token=lease.token,
            dry_run=opts.dry_run,
            guard=guard,
        )
        # Stored intents move one step; then the plan's new drains start.
        steps = review(
            seen.state.intents,
            {v.id: v for v in seen.views},
            seen.aws.groups,
            seen.now,
            settle_s=opts.drain_settle_s,
            forget_after_s=opts.forget_terminated_after_s,
        )
        acts.follow([s for s in steps if not _halted_step(s, halted)], seen.now)
        fresh = acts.start(scale_down, seen.state.intents, seen.now)
        if fresh and not opts.dry_run:
            for pool in sorted({i.pool for i in fresh}):
                _stamp(history, pool, seen.now, up=False)
            # Stored before Mesos is asked: a crash after the call still leaves the record,
            # and the next pass resumes from it.
            guard()
            changes = StateChanges(put_intents=fresh, history=_changed(history, seen.state))
            _staged("record", lambda: self.store.commit(lease, self.clock(), changes))
            seen = _with_state(seen, history, seen.state.ledger)
        acts.deactivate_new(fresh, seen.now)
        by_instance = {
            str(v.attributes["instance_id"]): v for v in seen.views if "instance_id" in v.attributes
        }
        acts.settle_held(
            held_instances(waiting_terminations(seen.aws), by_instance),
            self.adapter.termination_hook,
        )
        out += acts.results
        memory = seen.registrations.memory
        remaining = set(seen.state.intents) - acts.deletes
        if not opts.dry_run:
            remaining |= {i.agent_id for i in fresh}
            final = StateChanges(
                history=_changed(history, seen.state),
                put_intents=[v for k, v in sorted(acts.puts.items()) if k not in acts.deletes],
                delete_intents=sorted(acts.deletes),
                ledger=ledger if ledger != seen.state.ledger else None,
                idle_since=seen.idle_since if seen.idle_since != seen.state.idle_since else None,
                instances=memory if memory != seen.state.instances else None,
            )
            if not final.empty():
                guard()
                _staged("record", lambda: self.store.commit(lease, self.clock(), final))
        if self.recorder is not None:
            self.recorder.record(seen.now, seen.snapshot, plan, out)
        return out, len(remaining)


def _busy_instances(views: list[AgentView]) -> set[str]:
    return {
        str(v.attributes["instance_id"]) for v in views if busy(v) and "instance_id" in v.attributes
    }


def _with_state(
    seen: Observed, history: dict[str, PoolHistory], ledger: CapacityLedger
) -> Observed:
    """`seen` as if `history` and `ledger` had been loaded (they have just been stored)."""
    state = replace(seen.state, history=dict(history), ledger=ledger)
    return replace(seen, state=state)


def _halted_step(step: IntentStep, halted: Mapping[str, str]) -> bool:
    """A termination in a pool whose scale-down is halted waits for a sounder picture."""
    return step.kind == "terminate" and step.intent.pool in halted


def _without_expired(
    pools: Sequence[Pool], expired: Sequence[Expired], ledger: CapacityLedger, now: datetime
) -> list[Pool]:
    """Pools as they will be once this pass terminates `expired`: their desired capacity
    lowered and their zones backed off, so that capacity never counts as placed."""
    if not expired:
        return list(pools)
    drop = Counter(e.asg for e in expired if e.decrement)
    backed = {e.asg for e in expired}
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


def _staged(stage: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (LeaseLostError, PassAbandonedError, StageError):
        raise
    except Exception as error:
        raise StageError(stage, error) from error


def _stamp(history: dict[str, PoolHistory], pool: str, now: datetime, *, up: bool) -> None:
    old = history.get(pool, PoolHistory())
    key = "last_scale_up" if up else "last_scale_down"
    history[pool] = old.model_copy(update={key: now})


def _changed(history: dict[str, PoolHistory], state: ControlState) -> dict[str, PoolHistory]:
    return {k: v for k, v in history.items() if state.history.get(k) != v}
