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
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import boto3
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry

from controlplane.config import Settings
from controlplane.demand import DemandSource
from controlplane.demand.http_source import HttpDemandSource
from controlplane.demand.queue import TaskQueue
from controlplane.demand.server import DemandServer
from controlplane.ops.health import Health
from controlplane.ops.http import OpsServer
from controlplane.ops.metrics import ControlMetrics
from controlplane.reconcile import PassResult
from controlplane.state import DynamoFrameworkIdStore, Lease, default_holder
from controlplane.wiring import build, utc_now

if TYPE_CHECKING:
    from controlplane.mesos.framework import MesosFramework

log = logging.getLogger(__name__)


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
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.holder = holder or default_holder()
        self.registry = CollectorRegistry()
        self.metrics = ControlMetrics(self.registry)
        self.queue: TaskQueue | None = None
        demand: DemandSource
        if settings.demand.source == "framework":
            self.queue = TaskQueue()
            demand = self.queue
        else:
            assert settings.demand.url is not None
            demand = HttpDemandSource(settings.demand.url)
        self.parts = build(
            settings,
            demand=demand,
            registry=self.registry,
            metrics=self.metrics,
            clock=clock,
            session=session,
        )
        self.run_framework = framework and self.queue is not None
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
        ops = settings.ops
        self.ops = OpsServer(self.registry, self.health, host=ops.host, port=ops.port)
        self.demand_server = (
            DemandServer(
                self.queue,
                host=settings.demand.listen_host,
                port=settings.demand.listen_port,
                accepting=self.is_leader,
            )
            if self.queue is not None
            else None
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
        self.scheduler.start()
        log.info("control plane %s started for cluster %s", self.holder, self.settings.cluster)
        return self

    def stop(self) -> None:
        """Abandon a running pass cleanly, keep tasks running, hand leadership over."""
        self._stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self._stop_framework()
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

    def tick_lease(self) -> None:
        """Acquire or renew; start or stop the framework when leadership changes."""
        if self._stopping.is_set():
            return
        now = self.clock()
        try:
            lease = self.parts.store.acquire(self.holder, now, self.settings.loop.lease_ttl_s)
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
        if lease is not None:
            self._start_framework()
        else:
            self._stop_framework()

    # ---- passes -------------------------------------------------------------------------

    def run_pass(self) -> PassResult | None:
        lease = self.lease()
        if lease is None or self._stopping.is_set():
            self.metrics.pass_skipped("not_leader" if lease is None else "stopping")
            return None
        result = self.parts.reconciler.run_pass(lease, abandon=self._stopping)
        self.last_pass = result
        self._last_pass_at = time.monotonic()
        return result

    def health(self) -> Health:
        """Healthy: a leader whose passes succeed, or a standby whose lease checks work."""
        now = time.monotonic()
        grace = 3 * max(self.settings.loop.interval_s, self.settings.loop.lease_ttl_s / 3) + 10
        leader = self.is_leader()
        last = self.last_pass
        detail: dict[str, object] = {
            "holder": self.holder,
            "leader": leader,
            "last_pass": None if last is None else last.outcome,
            "last_pass_age_s": None
            if self._last_pass_at is None
            else round(now - self._last_pass_at, 3),
            "lease_error": self._lease_error,
        }
        young = now - self._started_at < grace
        lease_ok = self._last_lease_ok is not None and now - self._last_lease_ok < grace
        if leader:
            fresh = self._last_pass_at is not None and now - self._last_pass_at < grace
            ok = (fresh and last is not None and last.outcome == "ok") or (young and last is None)
        else:
            ok = lease_ok or young
        return Health(ok=ok, detail=detail)

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
            credentials=mesos.credentials(),
        )
        framework.start()
        self.framework = framework
        log.info("framework started against %s", framework.master)

    def _stop_framework(self) -> None:
        framework, self.framework = self.framework, None
        if framework is not None:
            framework.stop()  # with failover: its tasks keep running
            log.info("framework stopped with failover; its tasks keep running")
