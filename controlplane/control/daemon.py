"""The long-running control plane: leader election, the pass loop, the framework, ops port.

APScheduler runs two jobs: the lease (acquire or renew every third of its time to live)
and the reconcile pass (every `loop.interval_s`, never overlapping itself). Only the lease
holder runs passes and the Mesos framework; a standby keeps trying for the lease and
refuses task submissions (503) so no work is queued where it would never run. Stopping
abandons a running pass at its next act step, stops the framework with failover (its
tasks keep running) and releases the lease so a standby takes over at once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import boto3
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry

from controlplane.config import ConfigError, Settings
from controlplane.control.reconcile import PassResult
from controlplane.control.wiring import build, http_demand, utc_now
from controlplane.demand import DemandSource
from controlplane.demand.queue import TaskQueue
from controlplane.demand.server import DemandServer, SubmissionRules
from controlplane.mesos.offers import LaunchHints
from controlplane.ops.access import token_source
from controlplane.ops.health import Health
from controlplane.ops.http import OpsServer
from controlplane.ops.metrics import ControlMetrics
from controlplane.ops.serving import from_access as serving
from controlplane.state import DynamoFrameworkIdStore, Lease, default_holder
from controlplane.state.task_journal import TaskJournal

if TYPE_CHECKING:
    from controlplane.mesos.framework import MesosFramework

log = logging.getLogger(__name__)
#: The watcher's long poll (short enough for a stop not to wait long on it).
WATCH_WAIT_S = 5
#: How long a message seen by the watcher does not trigger a pass again.
WATCH_MEMORY_S = 300.0


class Daemon:
    """One control-plane process; several may run, one leads."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        holder: str | None = None,
        session: boto3.Session | None = None,
        framework: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        problems = settings.daemon_problems()
        if problems:
            raise ConfigError("configuration", problems)
        self.settings = settings
        self.clock = clock
        self.holder = holder or default_holder()
        self.registry = CollectorRegistry()
        self.metrics = ControlMetrics(self.registry)
        self.queue: TaskQueue | None = None
        #: Interruption messages already seen by the watcher (id -> when), so a message a
        #: pass leaves on the queue does not run passes back to back.
        self._watched: dict[str, float] = {}
        demand: DemandSource
        self._journal: TaskJournal | None = None
        if settings.demand.source == "framework":
            self.queue = TaskQueue(
                max_queued=settings.demand.max_queued,
                max_relaunches=settings.demand.max_relaunches,
            )
            demand = self.queue
        else:
            demand = http_demand(settings)
        self.parts = build(
            settings,
            demand=demand,
            registry=self.registry,
            metrics=self.metrics,
            clock=clock,
            session=session,
            rng=rng,  # cache-refresh jitter; a replay seeds it so its AWS calls repeat
        )
        if self.queue is not None:
            self._journal = TaskJournal(self.parts.store, self.lease, clock)
            self.queue.attach_journal(self._journal)
        #: Pools the last pass observed (what a submission may name); None before the first.
        self.pools: frozenset[str] | None = None
        self.run_framework = framework and self.queue is not None
        if self.run_framework and settings.mesos.https:
            raise ConfigError(
                "configuration",
                [
                    "mesos.masters: the framework driver (pymesos) speaks plain HTTP only; "
                    "with https:// masters use demand.source = 'http' (this daemon then "
                    "sizes the fleet for another framework)"
                ],
            )
        if self.run_framework:
            # pymesos (an optional extra) sets a SIGINT handler when imported, which Python
            # allows only on the main thread: import it here, not in a scheduler job.
            from controlplane.mesos.framework import MesosFramework  # noqa: PLC0415

            self._framework_cls: type[MesosFramework] | None = MesosFramework
        else:
            self._framework_cls = None
        self.framework: MesosFramework | None = None
        self.last_pass: PassResult | None = None
        self._lease: Lease | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._started_at = time.monotonic()
        self._last_pass_at: float | None = None
        self._last_lease_ok: float | None = None
        self._lease_error: str | None = None
        ops, wanted = settings.ops, settings.demand
        tls, limits = serving(ops.access, max_body_bytes=1024)
        self.ops = OpsServer(
            self.registry,
            self.health,
            host=ops.host,
            port=ops.port,
            tokens=token_source(ops.access, settings, session) if ops.access.has_tokens else None,
            tls=tls,
            limits=limits,
        )
        self.demand_server: DemandServer | None = None
        if self.queue is not None:
            tls, limits = serving(wanted.access, max_body_bytes=wanted.max_body_bytes)
            self.demand_server = DemandServer(
                self.queue,
                tokens=token_source(wanted.access, settings, session),
                rules=SubmissionRules(
                    pools=lambda: self.pools,
                    commands=wanted.commands,
                    default_command=wanted.default_command,
                ),
                host=wanted.listen_host,
                port=wanted.listen_port,
                tls=tls,
                limits=limits,
                not_accepting=self.not_accepting,
            )
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> Daemon:
        self.ops.start()
        if self.demand_server is not None:
            self.demand_server.start()
        loop = self.settings.loop
        now = datetime.now(UTC)
        self.scheduler.add_job(
            self.tick_lease,
            "interval",
            seconds=loop.lease_ttl_s / 3,
            id="lease",
            next_run_time=now,
        )
        self.scheduler.add_job(
            self.run_pass,
            "interval",
            seconds=loop.interval_s,
            id="pass",
            next_run_time=now + timedelta(seconds=0.2),
        )
        if self.parts.reconciler.interruptions is not None:
            self.scheduler.add_job(  # each run long-polls up to WATCH_WAIT_S: no overlap
                self.watch_interruptions,
                "interval",
                seconds=WATCH_WAIT_S + 1,
                id="interruptions",
                coalesce=True,
            )
        self.scheduler.start()
        log.info("control plane %s started for cluster %s", self.holder, self.settings.cluster)
        return self

    def stop(self) -> None:
        """Abandon a running pass cleanly, keep tasks running, hand leadership over."""
        self._stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.queue is not None and self.is_leader():
            self.queue.flush()
        self._stop_framework()
        if self.parts.watch is not None:
            self.parts.watch.stop()
        with self._lock:
            lease, self._lease = self._lease, None
        if lease is not None:
            try:
                self.parts.store.release(lease)
            except Exception:  # the lease expires on its own; stopping must go on
                log.exception("could not release the lease; it expires at %s", lease.expires_at)
        self.metrics.set_leader(False)
        if self.demand_server is not None:
            self.demand_server.stop()
        self.ops.stop()
        log.info("control plane %s stopped", self.holder)

    # ---- leadership ---------------------------------------------------------------------

    def lease(self) -> Lease | None:
        """The lease while it is valid with the pass margin to spare, else None."""
        with self._lock:
            lease = self._lease
        margin = self.settings.loop.lease_margin_s
        return lease if lease is not None and lease.valid(self.clock(), margin) else None

    def is_leader(self) -> bool:
        return self.lease() is not None

    def not_accepting(self) -> str | None:
        """Why task submissions must wait, or None (see `DemandServer`)."""
        if not self.is_leader():
            return "not the leader: submit to the leading control plane"
        if self.queue is None:
            return "this control plane runs no task queue"
        why = self.queue.not_ready()
        if why is None and self.pools is None:
            why = "no pass has observed the cluster's pools yet"
        return why

    def tick_lease(self) -> None:
        """Acquire or renew; start or stop the framework when leadership changes."""
        if self._stopping.is_set():
            return
        now = self.clock()
        try:
            with self._lock:
                known = self._lease
            ttl_s = self.settings.loop.lease_ttl_s
            lease = self.parts.store.acquire(self.holder, now, ttl_s, known=known)
            self._last_lease_ok, self._lease_error = time.monotonic(), None
        except Exception as error:  # keep a still-valid lease; it lapses on its own
            log.error("lease: %s", error)
            self._lease_error = str(error)
            lease = self.lease()
        with self._lock:
            was = self._lease is not None and self._lease.valid(now)
            self._lease = lease
        self.metrics.set_leader(lease is not None)
        if lease is not None and not was:
            log.info("leader now (token %d)", lease.token)
        if lease is None and was:
            log.warning("no longer leader")
        watch = self.parts.watch
        if lease is not None:
            if watch is not None:
                watch.start()  # the leader's passes read the cluster from its events
            self._load_queue()
            self._start_framework()
            framework = self.framework
            if framework is not None:
                framework.scheduler.reconcile_outstanding()
        else:
            if watch is not None:
                watch.stop()
            self._stop_framework()

    def _load_queue(self) -> None:
        """What the last leader accepted (reconciled when the framework subscribes)."""
        if self.queue is None or self.queue.loaded:
            return
        try:
            self.queue.load()
            log.info("task queue loaded: %s", self.queue.counts())
        except Exception as error:
            log.error("task queue not loaded (tried again at the next lease tick): %s", error)

    # ---- passes -------------------------------------------------------------------------

    def run_pass(self) -> PassResult | None:
        lease = self.lease()
        if lease is None or self._stopping.is_set():
            self.metrics.pass_skipped("not_leader" if lease is None else "stopping")
            return None
        if self.queue is not None:
            self.queue.flush()
        result = self.parts.reconciler.run_pass(lease, abandon=self._stopping)
        if result.snapshot is not None:
            pools = result.snapshot.pools  # a task may name a pool or a family of pools
            self.pools = frozenset(p.name for p in pools) | {p.family for p in pools if p.family}
            framework = self.framework
            if framework is not None:
                framework.scheduler.set_hints(launch_hints(result))
        # Kept without its snapshot: at 10,000 agents that is ~50,000 task models, which would
        # otherwise live on beside the next pass's (health reads only the outcome).
        self.last_pass = replace(result, snapshot=None)
        self._last_pass_at = time.monotonic()
        return result

    def watch_interruptions(self) -> None:
        """The leader long-polls the interruption queue (without taking messages) and runs
        a pass at once for a message it has not seen: a Spot warning leaves two minutes."""
        queue = self.parts.reconciler.interruptions
        if queue is None or self.lease() is None or self._stopping.is_set():
            return
        try:
            ids = queue.peek(WATCH_WAIT_S)
        except Exception:
            log.exception("interruption queue poll failed; the next pass reads it anyway")
            return
        now = time.monotonic()
        self._watched = {i: t for i, t in self._watched.items() if now - t < WATCH_MEMORY_S}
        fresh = [i for i in ids if i not in self._watched]
        if fresh and not self._stopping.is_set():
            self._watched.update({i: now for i in fresh})
            self.scheduler.modify_job("pass", next_run_time=datetime.now(UTC))

    def health(self) -> Health:
        """Healthy: a leader whose passes succeed, or a standby whose lease checks work."""
        now = time.monotonic()
        grace = 3 * max(self.settings.loop.interval_s, self.settings.loop.lease_ttl_s / 3) + 10
        leader = self.is_leader()
        last = self.last_pass
        detail: dict[str, object] = {
            "leader": leader,
            "last_pass": None if last is None else last.outcome,
            "last_pass_age_s": None
            if self._last_pass_at is None
            else round(now - self._last_pass_at, 3),
        }
        young = now - self._started_at < grace
        lease_ok = self._last_lease_ok is not None and now - self._last_lease_ok < grace
        if leader:
            fresh = self._last_pass_at is not None and now - self._last_pass_at < grace
            ok = (fresh and last is not None and last.outcome == "ok") or (young and last is None)
        else:
            ok = lease_ok or young
        private = {"holder": self.holder, "lease_error": self._lease_error}
        if not ok:
            log.warning("unhealthy: %s", {**detail, **private})
        return Health(ok=ok, public=detail, private=private)

    # ---- framework ----------------------------------------------------------------------

    def _start_framework(self) -> None:
        if self._framework_cls is None or self.framework is not None or self._stopping.is_set():
            return
        assert self.queue is not None
        try:
            self.parts.operator.agents_only()  # follows redirects: `master` is the leader
        except Exception as error:
            log.error("framework not started, no master reachable: %s", error)
            return
        if not self.queue.loaded:
            return  # _load_queue logged why
        mesos = self.settings.mesos
        framework = self._framework_cls(
            self.parts.operator.master,
            self.queue,
            DynamoFrameworkIdStore(self.parts.store, self.lease, self.clock),
            name=mesos.framework_name,
            user=mesos.user,
            failover_timeout_s=mesos.failover_timeout_s,
            refuse_seconds=mesos.refuse_seconds,
            clock=self.clock,
            credentials=self.parts.credentials,
            commands=self.settings.demand.commands,
            default_command=self.settings.demand.default_command,
        )
        framework.start()
        self.framework = framework
        log.info("framework started against %s", framework.master)

    def _stop_framework(self) -> None:
        framework, self.framework = self.framework, None
        if framework is not None:
            framework.stop()  # with failover: its tasks keep running
            log.info("framework stopped with failover; its tasks keep running")
        if self.queue is not None:
            self.queue.forget()  # the journal holds it for whoever leads next


def launch_hints(result: PassResult) -> LaunchHints:
    """What the framework's placements should know after a pass: each job's learned task
    duration, each agent's expected empty time, the instances AWS is reclaiming."""
    durations, snapshot = result.durations, result.snapshot
    jobs = {} if durations is None else {j: m.mean_s for j, m in durations.jobs.items()}
    agents = snapshot.agents if snapshot is not None else []
    ends = {a.id: a.expected_empty_at for a in agents if a.expected_empty_at}
    return LaunchHints(jobs, ends, result.reclaimed)
