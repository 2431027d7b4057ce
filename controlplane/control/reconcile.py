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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, TypeVar

from controlplane.aws.actions import ActionResult
from controlplane.aws.calls import AwsCaller, BotoClient
from controlplane.aws.capacity import assess_delivery, back_off
from controlplane.aws.errors import AwsError
from controlplane.aws.fleet_writes import FleetWriter
from controlplane.aws.interruption_queue import InterruptionQueue, Message
from controlplane.aws.observation import AwsObserver
from controlplane.aws.pool_rules import AdapterSettings
from controlplane.aws.replies import ObservedGroup
from controlplane.control.acting import PassActs
from controlplane.control.assemble import assemble
from controlplane.control.expectations import (
    boot_horizon,
    boot_samples,
    expected_ends,
    with_boot_times,
    with_expectations,
    with_expected_ends,
)
from controlplane.control.interruptions import Interrupted, review_interruptions
from controlplane.control.leaving import interrupted_agents, without_leaving
from controlplane.control.observed import Observed
from controlplane.control.pass_files import PassRecorder
from controlplane.control.pass_reads import PassReads
from controlplane.control.registration import review_registrations
from controlplane.control.relocating import Relocator
from controlplane.control.unstored_samples import UnstoredSamples
from controlplane.demand import DemandSource
from controlplane.mesos.observe import AgentModels, observe_agents
from controlplane.mesos.replies import AgentView
from controlplane.model import Plan, Snapshot
from controlplane.planning import plan as make_plan
from controlplane.planning.gc_pause import cyclic_gc_paused
from controlplane.state import DrainIntent, Lease, LeaseLostError, StateStore
from controlplane.state.durations import DurationStats

log = logging.getLogger(__name__)
T = TypeVar("T")


class MesosOperator(Protocol):
    """The operator calls a pass needs (`controlplane.mesos.OperatorClient` has them)."""

    def agents(self) -> list[AgentView]: ...
    def deactivate_agent(self, agent_id: str) -> None: ...
    def reactivate_agent(self, agent_id: str) -> None: ...
    def agents_only(self) -> list[AgentView]: ...


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
    #: Read Mesos and AWS while the state loads (`pass_reads.py`); False: one by one.
    concurrent_reads: bool = True
    lease_margin_s: float = 5.0
    drain_settle_s: float = 0.0
    forget_terminated_after_s: float = 900.0
    registration_deadline_s: float = 900.0
    max_unregistered_share: float = 0.45
    ok_unregistered: int = 3


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
    #: What the loop knew of task durations and boot times in this pass.
    durations: DurationStats | None = None
    #: Instances AWS warned it will reclaim (their agents must get no work).
    reclaimed: frozenset[str] = frozenset()


class StageError(Exception):
    """An exception tagged with the pass stage it happened in."""

    def __init__(self, stage: str, cause: Exception) -> None:
        super().__init__(f"{stage}: {cause}")
        self.stage = stage
        self.cause = cause


@dataclass(frozen=True)
class AwsAccess:
    """The AWS side of a pass: how to call, whom to ask, what to observe, with which rules."""

    caller: AwsCaller
    autoscaling: BotoClient
    observer: AwsObserver
    settings: AdapterSettings


class Reconciler:
    """Joins the adapters, the planner and the state store into one pass."""

    def __init__(
        self,
        *,
        aws: AwsAccess,
        mesos: MesosOperator,
        demand: DemandSource,
        store: StateStore,
        options: PassOptions,
        clock: Callable[[], datetime],
        recorder: PassRecorder | None = None,
        metrics: PassMetrics | None = None,
        interruptions: InterruptionQueue | None = None,
    ) -> None:
        self.aws = aws
        self.mesos = mesos
        self.demand = demand
        self.store = store
        self.options = options
        self.clock = clock
        self.recorder = recorder
        self.metrics = metrics
        self.interruptions = interruptions
        self._abandon: threading.Event | None = None
        #: Agent models of views the event stream's picture keeps from pass to pass.
        self._models = AgentModels()
        #: Finished tasks' samples learned from but not stored yet.
        self._unstored = UnstoredSamples()
        #: How a pass makes its reads (a benchmark swaps in sequential ones).
        self.reads = PassReads(options.concurrent_reads)

    # ---- observe ------------------------------------------------------------------------

    def observe(self) -> Observed:
        """Read state, Mesos, AWS and demand; raise `StageError` on the first thing unreadable."""
        now = self.clock()
        observer, settings = self.aws.observer, self.aws.settings
        reads = (
            self.reads.start(self.mesos.agents),
            self.reads.start(lambda: observer.directory.describe(now)),
        )
        try:
            state = _staged("load_state", self.store.load)
            views = _staged("observe_mesos", reads[0].take)
            groups = _staged("observe_aws", reads[1].take)
        except BaseException:
            for read in reads:
                read.settle()
            raise
        aws = _staged("observe_aws", lambda: observer.observe(state.ledger, now, groups))
        failures = _staged("observe_aws", lambda: observer.scaling_failures(state.ledger))
        ledger, takebacks = assess_delivery(state.ledger, aws.groups, failures, settings, now)
        pending = _staged("observe_demand", self.demand.pending)
        models = self._models.use(getattr(self.mesos, "source", None) == "events")
        mesos = _staged(
            "observe_mesos", lambda: observe_agents(views, now, state.idle_since, models)
        )
        for agent_id, why in sorted(mesos.skipped.items()):
            log.debug("agent %s left out: %s", agent_id, why)
        opts = self.options
        registered = {
            str(v.attributes["instance_id"]) for v in views if "instance_id" in v.attributes
        }
        registrations = review_registrations(
            aws.groups,
            registered,
            state.instances,
            now,
            deadline_s=opts.registration_deadline_s,
            max_unregistered_share=opts.max_unregistered_share,
            ok_unregistered=opts.ok_unregistered,
        )
        for expired in registrations.expired:
            ledger = back_off(ledger, expired.asg, expired.reason, settings, now)
        interrupted = self._interruptions(
            views, aws.groups, state.intents, state.instances.warned, now
        )
        for asg, why in sorted(interrupted.back_off.items()):
            ledger = back_off(ledger, asg, why, settings, now)
        samples = self._unstored.take(self._finished())
        durations = state.durations.learn(
            samples,
            boot_samples(state.instances, aws.groups, registered, now),
            now.timestamp(),
        )
        pools = with_boot_times(
            without_leaving(
                aws.pools, registrations.expired, ledger, now, set(interrupted.back_off)
            ),
            durations,
        )
        ends = expected_ends(views, durations, now.timestamp(), boot_horizon(pools))
        agents = interrupted_agents(with_expected_ends(mesos.agents, ends), interrupted)
        pending = with_expectations(pending, durations)
        assembly = _staged(
            "snapshot",
            lambda: assemble(
                now,
                pools,
                agents,
                pending,
                state.history,
                state.floors_at(now),
                cordoned={
                    a
                    for a, i in state.intents.items()
                    if i.cordon and not i.interrupted and i.phase != "terminating"
                }
                - set(interrupted.cordons),
            ),
        )
        for agent_id, why in sorted(assembly.left_out_agents.items()):
            log.warning("agent %s left out of the snapshot: %s", agent_id, why)
        for task_id, why in sorted(assembly.left_out_tasks.items()):
            log.warning("pending task %s left out of the snapshot: %s", task_id, why)
        return Observed(
            now,
            state,
            views,
            aws,
            ledger,
            takebacks,
            assembly,
            mesos.idle_since,
            registrations,
            durations,
            interrupted,
            unstored=len(samples),
            durations_due=self._unstored.due(now),
        )

    def _interruptions(
        self,
        views: Sequence[AgentView],
        groups: Mapping[str, ObservedGroup],
        intents: Mapping[str, DrainIntent],
        warned: Mapping[str, datetime],
        now: datetime,
    ) -> Interrupted:
        """Take what the interruption queue holds and say what it comes to; agents AWS is
        reclaiming since an earlier pass are evicted again (a launch may have raced), and
        agents registering on instances warned while they booted are cordoned now."""
        messages: list[Message] = []
        unreadable = None
        if self.interruptions is not None:
            try:
                messages = self.interruptions.take()
            except AwsError as error:
                # The queue adds to what the pass knows; without it the pass is what it was
                # before the queue existed, and its messages wait for the next pass.
                unreadable = f"the pass goes on without it: {error}"
        out = review_interruptions(messages, views, groups, warned, now)
        if unreadable is not None:
            out.notes.append(("unreadable", unreadable))
        for kind, note in out.notes:
            log.warning("interruption queue: %s: %s", kind, note)
        present = {v.id for v in views}
        for agent_id, intent in sorted(intents.items()):
            if intent.reclaim and agent_id in present:
                out.evict.setdefault(agent_id, intent.reason)
        return out

    def _finished(self) -> list[tuple[str, float]]:
        """(job, seconds) of tasks finished since the last pass, where the demand source is
        the framework's own queue (it sees their status updates)."""
        take = getattr(self.demand, "take_finished", None)
        return list(take()) if callable(take) else []

    def _relocator(self) -> Relocator | None:
        """The framework's own queue relocates tasks; another demand source cannot."""
        return self.demand if isinstance(self.demand, Relocator) else None

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
            with cyclic_gc_paused():  # observation and planning: see planning/gc_pause.py
                seen = self.observe()
                result.snapshot, result.durations = seen.snapshot, seen.durations
                result.reclaimed = seen.interrupted.reclaimed(seen.views)
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
        """Act on the plan, step by step (`acting.py`); what was done and the drains left."""
        opts = self.options
        writer = FleetWriter(
            self.aws.caller, self.aws.autoscaling, seen.aws, self.aws.settings.termination_hook
        )
        acts = PassActs(
            lease,
            seen,
            plan,
            writer,
            self.mesos,
            self.store,
            guard=lambda: self._guard(lease),
            record=lambda write: _staged("record", write),
            clock=self.clock,
            dry_run=opts.dry_run,
            settle_s=opts.drain_settle_s,
            forget_after_s=opts.forget_terminated_after_s,
        )
        acts.fleet()
        acts.record_fleet()
        drains, fresh = acts.drains()
        acts.interruptions(self._relocator())
        acts.relocate(self._relocator())
        acts.held(drains)
        remaining = acts.record_rest(drains, fresh)
        if acts.durations_stored:
            self._unstored.stored(seen.unstored, seen.now)
        done = seen.interrupted.done
        if self.interruptions is not None and done and not opts.dry_run:
            self._guard(lease)
            _staged(
                "record", lambda: self.interruptions.delete(done) if self.interruptions else None
            )
        if self.recorder is not None:
            self.recorder.record(seen.now, seen.snapshot, plan, acts.results)
        return acts.results, remaining


def _staged(stage: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (LeaseLostError, PassAbandonedError, StageError):
        raise
    except Exception as error:
        raise StageError(stage, error) from error
