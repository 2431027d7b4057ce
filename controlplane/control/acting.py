"""The act half of a pass, one step per method, in the order the steps must run.

Every step checks the lease first (`guard`); state is committed where a later failure
must not lose it: the fleet writes (raises, take-backs, expiries) before any drain, a new
drain intent before Mesos is asked, the rest at the end. Decisions come from the plan and
from `drain_decisions`/`registration`; this module only carries them out and records them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from controlplane.aws.actions import ActionOutcome, ActionResult
from controlplane.aws.capacity import CapacityLedger
from controlplane.aws.fleet_writes import FleetWriter
from controlplane.aws.lifecycle import waiting_terminations
from controlplane.control.drain_calls import DrainActs, MesosAgentCalls
from controlplane.control.drain_decisions import IntentStep, busy, held_instances, review
from controlplane.control.interruptions import evict
from controlplane.control.observed import Observed
from controlplane.control.relocating import Relocator, cordoned_agents
from controlplane.model import Cordon, Plan, PoolHistory, ScaleDown
from controlplane.planning.relocate import HOUR_S, relocations
from controlplane.state import DrainIntent, Lease, StateChanges, StateStore

log = logging.getLogger(__name__)
#: A drain the plan starts: an idle agent's scale-down or a busy agent's cordon.
D = TypeVar("D", ScaleDown, Cordon)


@dataclass
class PassActs:
    """One pass's acting: what it wrote, what it must still record."""

    lease: Lease
    seen: Observed
    plan: Plan
    writer: FleetWriter
    mesos: MesosAgentCalls
    store: StateStore
    guard: Callable[[], None]
    record: Callable[[Callable[[], None]], None]
    clock: Callable[[], datetime]
    dry_run: bool
    settle_s: float
    forget_after_s: float

    def __post_init__(self) -> None:
        self.results: list[ActionResult] = []
        self.history: dict[str, PoolHistory] = dict(self.seen.snapshot.history)
        self.ledger: CapacityLedger = self.seen.ledger
        #: Whether a commit of this pass stored the pass's learned durations.
        self.durations_stored = False

    # ---- the steps, in order -----------------------------------------------------------

    def fleet(self) -> None:
        """Take back undelivered capacity, expire stale instances, protect busy ones, raise."""
        seen = self.seen
        self.guard()
        self.results += self.writer.take_back(seen.takebacks)
        self.guard()
        self.results += self.writer.expire(seen.registrations.expired)
        self.guard()
        self.results += self.writer.protect(_busy_instances(seen))
        self.guard()
        ups, self.ledger = self.writer.scale_up(self.plan.scale_up, self.ledger, seen.now)
        self.results += ups
        pool_of = {g.name: g.pool for g in seen.aws.groups.values()}
        for up in ups:
            if up.outcome == "done":
                self._stamp(pool_of[up.asg], up=True)

    def record_fleet(self) -> None:
        """Store raises and expiries now, before anything later can fail the pass."""
        wrote = any(r.outcome == "done" for r in self.results)
        if not wrote or self.ledger == self.seen.state.ledger or self.dry_run:
            return
        self._commit(StateChanges(history=self._history_changes(), ledger=self.ledger))
        self._stored(ledger=self.ledger)

    def drains(self) -> tuple[DrainActs, list[DrainIntent]]:
        """Move stored intents one step, then start the plan's new drains (intent first)."""
        seen = self.seen
        halted = seen.registrations.halted
        for pool, why in sorted(halted.items()):
            log.warning("pool %s: scale-down halted: %s", pool, why)
        scale_down = self._not_halted(self.plan.scale_down, halted, "agent")
        acts = DrainActs(
            self.writer, self.mesos, token=self.lease.token, dry_run=self.dry_run, guard=self.guard
        )
        steps = review(
            seen.state.intents,
            {v.id: v for v in seen.views},
            seen.aws.groups,
            seen.now,
            settle_s=self.settle_s,
            forget_after_s=self.forget_after_s,
        )
        back = {u.agent: u.reason for u in self.plan.uncordon}
        acts.follow(
            [s for s in steps if not _halted(s, halted) and s.intent.agent_id not in back], seen.now
        )
        given = [i for a, i in sorted(seen.state.intents.items()) if a in back and i.cordon]
        acts.uncordon(given, back)
        for pool in sorted({i.pool for i in given}):
            self._stamp(pool, key="last_uncordon")
        cordons = self._not_halted(self.plan.cordon, halted, "cordon of agent")
        # AWS takes these instances back whatever scale-down's halts say.
        reclaimed = seen.interrupted.cordons
        leaving = {d.agent for d in self.plan.scale_down}
        cordons += [c for a, c in sorted(reclaimed.items()) if a not in leaving]
        fresh = acts.start([*scale_down, *cordons], seen.state.intents, seen.now)
        evicted = seen.interrupted.evict

        def marked(intent: DrainIntent, reason: str | None = None) -> DrainIntent:
            update = {"interrupted": True, "reclaim": intent.agent_id in evicted}
            return intent.model_copy(update={**update, **({"reason": reason} if reason else {})})

        fresh = [marked(i) if i.agent_id in reclaimed else i for i in fresh]
        fresh += [  # a cordon AWS now reclaims is never given back, and may now be evicted
            marked(i, reclaimed[a].reason)
            for a, i in sorted(seen.state.intents.items())
            if a in reclaimed
            and i.cordon
            and i.phase != "terminating"
            and (not i.interrupted or (a in evicted and not i.reclaim))
        ]
        if fresh and not self.dry_run:
            for pool in sorted({i.pool for i in fresh if not i.cordon}):
                self._stamp(pool, up=False)
            # Stored before Mesos is asked: a crash after the call still leaves the record,
            # and the next pass resumes from it.
            self._commit(StateChanges(put_intents=fresh, history=self._history_changes()))
            self._stored()
        acts.deactivate_new(fresh, seen.now)
        if self.settle_s == 0:  # a settle time asks for the two-phase wait
            acts.terminate_confirmed(fresh, seen.now)
        return acts, fresh

    def interruptions(self, port: Relocator | None) -> None:
        """Relaunch our tasks on instances AWS is taking back; one result per message."""
        self.results += evict(self.seen, port, self.guard, dry_run=self.dry_run)

    def relocate(self, port: Relocator | None) -> None:
        """Kill and queue again the restartable tasks `planning.relocate` picks; the pool's
        budget is stored before the first kill. Kills still in flight are sent again."""
        if port is None:
            return
        for task_id in sorted(port.relocating()):
            self.guard()
            port.relocate(task_id, "")  # marked already: the kill alone goes out again
        moves = relocations(self.seen.snapshot, self.plan, cordoned_agents(self.seen, port))
        if not moves:
            return
        now = self.seen.now
        if not self.dry_run:
            for pool in sorted({m.pool for m in moves}):
                old = self.history.get(pool, PoolHistory())
                recent = [t for t in old.relocations if (now - t).total_seconds() < HOUR_S]
                added = [now] * sum(1 for m in moves if m.pool == pool)
                self.history[pool] = old.model_copy(update={"relocations": recent + added})
            self._commit(StateChanges(history=self._history_changes()))
            self._stored()
        asg = {a.id: a.asg or "" for a in self.seen.snapshot.agents}
        for m in moves:
            self.guard()
            outcome: ActionOutcome = "dry_run"
            if not self.dry_run:
                outcome = "done" if port.relocate(m.task, m.reason) else "failed"
            detail = f"task {m.task} on {m.agent}: {m.reason}"
            self.results.append(ActionResult("relocate", asg.get(m.agent, ""), outcome, detail))

    def held(self, acts: DrainActs) -> None:
        """Drain and release instances the groups themselves hold in Terminating:Wait."""
        views = self.seen.views
        by_instance = {
            str(v.attributes["instance_id"]): v for v in views if "instance_id" in v.attributes
        }
        acts.settle_held(held_instances(waiting_terminations(self.seen.aws), by_instance))
        self.results += acts.results

    def record_rest(self, acts: DrainActs, fresh: list[DrainIntent]) -> int:
        """One commit of whatever changed; returns the drains still in progress."""
        seen = self.seen
        memory = replace(seen.registrations.memory, warned=seen.interrupted.warned)
        remaining = set(seen.state.intents) - acts.deletes
        if self.dry_run:
            return len(remaining)
        remaining |= {i.agent_id for i in fresh}
        final = StateChanges(
            history=self._history_changes(),
            put_intents=[v for k, v in sorted(acts.puts.items()) if k not in acts.deletes],
            delete_intents=sorted(acts.deletes),
            ledger=self.ledger if self.ledger != seen.state.ledger else None,
            idle_since=seen.idle_since if seen.idle_since != seen.state.idle_since else None,
            instances=memory if memory != seen.state.instances else None,
        )
        # Learned durations alone are stored only now and then (`unstored_samples.py`).
        if seen.durations != seen.state.durations and (seen.durations_due or not final.empty()):
            final = replace(final, durations=seen.durations)
        if not final.empty():
            self._commit(final)
            self.durations_stored = final.durations is not None
        return len(remaining)

    # ---- plumbing -----------------------------------------------------------------------

    def _commit(self, changes: StateChanges) -> None:
        self.guard()
        self.record(lambda: self.store.commit(self.lease, self.clock(), changes))

    def _stored(self, *, ledger: CapacityLedger | None = None) -> None:
        """The pass goes on as if what was just committed had been loaded."""
        state = replace(
            self.seen.state,
            history=dict(self.history),
            ledger=self.seen.state.ledger if ledger is None else ledger,
        )
        self.seen = replace(self.seen, state=state)

    def _not_halted(self, actions: Sequence[D], halted: dict[str, str], what: str) -> list[D]:
        """The plan's drains (or cordons), but none in a pool whose scale-down is halted."""
        out = []
        for a in actions:
            if a.pool in halted:
                why = f"{what} {a.agent}: {halted[a.pool]}"
                self.results.append(ActionResult.skipped("drain", a.asg, "halted", why))
            else:
                out.append(a)
        return out

    def _stamp(self, pool: str, *, up: bool = False, key: str | None = None) -> None:
        old = self.history.get(pool, PoolHistory())
        key = key or ("last_scale_up" if up else "last_scale_down")
        self.history[pool] = old.model_copy(update={key: self.seen.now})

    def _history_changes(self) -> dict[str, PoolHistory]:
        stored = self.seen.state.history
        return {k: v for k, v in self.history.items() if stored.get(k) != v}


def _busy_instances(seen: Observed) -> set[str]:
    return {
        str(v.attributes["instance_id"])
        for v in seen.views
        if busy(v) and "instance_id" in v.attributes
    }


def _halted(step: IntentStep, halted: dict[str, str]) -> bool:
    """A termination in a pool whose scale-down is halted waits for a sounder picture."""
    return step.kind == "terminate" and step.intent.pool in halted
