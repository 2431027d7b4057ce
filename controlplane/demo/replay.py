"""Replay a workload through the real daemon on the embedded world, on a virtual clock.

moto (EC2, Auto Scaling, DynamoDB) and the Mesos master emulator run on loopback; the
daemon is the production `Daemon`: it takes the DynamoDB lease, runs the pymesos framework
against the emulator and runs reconcile passes. Only time is simulated: the replay advances
the virtual clock a step at a time, submits the tasks due (over the demand HTTP API), lets
instances boot into agents, runs the daemon's lease and pass jobs on the virtual schedule,
and waits (in real time) until the framework has answered every offer and acknowledged every
status update before the daemon's pass reads the cluster and again before the next step, so
the framework's real-time work lands at a fixed virtual instant and a replay is repeatable.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from controlplane.aws.pool_rules import AdapterSettings, PoolRules
from controlplane.config import Settings
from controlplane.control.daemon import Daemon
from controlplane.demand.submission import MAX_BATCH
from controlplane.demo.config import DemoConfig, Variant
from controlplane.demo.recording import Recording, Sample
from controlplane.demo.workload import Arrival, Workload
from controlplane.sim.clock import VirtualClock, utc
from controlplane.sim.fleet import SyncReport
from controlplane.sim.mesos_master import MasterCore
from controlplane.sim.spot_market import SpotMarket
from controlplane.sim.world import PoolSpec, SimWorld, WorldSpec

log = logging.getLogger(__name__)
CLUSTER = "demo"
#: Virtual start: Monday 2026-11-23 00:00 UTC, so "hours" read as time of day.
START = 1795392000.0
#: Real seconds to wait at most for the framework to answer offers in one step.
SETTLE_S = 10.0
#: Real seconds between looks at the emulator while the framework works.
SETTLE_POLL_S = 0.0005
#: Actions that change no group's instances: the bridge need not read the groups after them.
GROUP_NEUTRAL = frozenset({"protect", "deactivate", "reactivate", "relocate"})


def world_spec(config: DemoConfig, rules: PoolRules, spot: bool = False) -> WorldSpec:
    """The embedded world of a replay; moto's ids follow the demo's seed, so a run repeats."""
    zones = tuple(sorted({z for p in config.pools for z in p.zones}))
    pools = tuple(
        PoolSpec(
            name=p.name,
            instance_type=p.instance_type,
            max=p.max_per_zone,
            zones=p.zones,
            spot=spot,
        )
        for p in config.pools
    )
    adapter = AdapterSettings(cluster=CLUSTER, default_rules=rules)
    return WorldSpec(
        cluster=CLUSTER,
        zones=zones,
        pools=pools,
        settings=adapter,
        boot_delay_s=config.boot_delay_s,
        gone_delay_s=0,
        # A replay ends thousands of tasks; the master reporting the last 1,000 of them in
        # every GET_STATE made serving it most of a pass. Mesos has the same flag.
        max_completed_tasks=100,
        seed=config.seed,
        master_ticks=False,  # the replay ticks the master itself, at fixed points of a step
        moto_process=True,  # moto's work runs beside the control plane's, not in turns
    )


def daemon_settings(
    config: DemoConfig,
    world: SimWorld,
    rules: PoolRules,
    tokens_file: Path,
    queue_url: str | None = None,
) -> Settings:
    pool_rules = {
        p.name: rules.model_copy(update={"hourly_price": p.hourly_price}) for p in config.pools
    }
    return Settings.model_validate(
        {
            "cluster": CLUSTER,
            "mesos": {"masters": [world.mesos_address], "refuse_seconds": config.step_s},
            "aws": {
                "region": world.region,
                "endpoint_url": world.moto_url,
                "state_table": "demo-state",
                "discovery_ttl_s": 3600,
                "launch_deadline_s": max(600.0, 3 * config.boot_delay_s),
                "interruption_queue_url": queue_url,
            },
            "loop": {
                "interval_s": config.interval_s,
                "lease_ttl_s": max(60.0, 6 * config.step_s),
                "lease_margin_s": 1,
            },
            "demand": {
                "source": "framework",
                "listen_port": 0,
                "access": {"tokens_file": str(tokens_file)},
                # The emulator runs no command; it ends a task after its duration_s label.
                "commands": {"noop": ["/bin/true"]},
                "default_command": "noop",
            },
            "ops": {"port": 0, "json_logs": False, "log_level": "WARNING"},
            "default_rules": rules.model_dump(),
            "pools": {k: v.model_dump() for k, v in pool_rules.items()},
        }
    )


def submission(
    arrival: Arrival,
    task_id: str,
    pool: str,
    expected_s: float | None = None,
    restartable: bool = False,
) -> dict[str, Any]:
    constraints: list[dict[str, Any]] = []
    if "unique_host" in arrival.constraints:
        constraints.append({"kind": "unique_host"})
    if "balanced_zone" in arrival.constraints:
        constraints.append({"kind": "balanced", "attribute": "zone"})
    resources = {"cpus": arrival.cpus, "mem": arrival.mem}
    if arrival.gpus:
        resources["gpus"] = arrival.gpus
    return {
        "id": task_id,
        "job": arrival.job,
        "pool": pool,
        "resources": resources,
        "constraints": constraints,
        "labels": {"duration_s": repr(arrival.duration_s)},  # the emulator's truth only
        **({"expected_duration_s": round(expected_s, 1)} if expected_s else {}),
        **({"restartable": True} if restartable else {}),
    }


def expectation(config: DemoConfig, arrival: Arrival, rng: np.random.Generator) -> float | None:
    """What the submitter declares: nothing, a noisy estimate, or the truth (`durations`)."""
    if config.durations == "learned":
        return None
    if config.durations == "exact":
        return arrival.duration_s
    return max(1.0, arrival.duration_s * float(rng.lognormal(0.0, 0.5)))


class Replay:
    """One run of one workload under one policy."""

    def __init__(
        self,
        config: DemoConfig,
        workload: Workload,
        variant: Variant | None = None,
        progress: Callable[[float, Sample], None] | None = None,
    ) -> None:
        self.config = config
        self.workload = workload
        self.variant = variant
        self.rules = config.rules_for(variant)
        self.progress = progress
        self.clock = VirtualClock(START)
        self._token = ""
        self.record = Recording(variant.name if variant else "default")
        self._noise = np.random.default_rng(config.seed + 1)
        self.market: SpotMarket | None = None
        gpu_pools = [p.name for p in config.pools if p.gpu]
        self._pool_for = (config.pools[0].name, gpu_pools[0] if gpu_pools else None)

    def now(self) -> float:
        return self.clock.now() - START

    def run(self) -> Recording:
        began = time.monotonic()
        spot = self.variant is not None and self.variant.spot
        self.record.spot = spot
        spec = world_spec(self.config, self.rules, spot)
        with (
            tempfile.TemporaryDirectory(prefix="cp-demo-") as tmp,
            SimWorld(spec, clock=self.clock) as world,
        ):
            self._token = secrets.token_urlsafe(32)
            tokens = Path(tmp) / "tokens"
            tokens.write_text(self._token + "\n")
            tokens.chmod(0o600)
            queue_url = None
            if spot:
                sqs = world.session.client(
                    "sqs", endpoint_url=world.moto_url, region_name=world.region
                )
                queue_url = sqs.create_queue(QueueName=f"{CLUSTER}-interruptions")["QueueUrl"]
                rate = self.config.interruptions_per_hour
                rng = np.random.default_rng(self.config.seed + 2)
                self.market = SpotMarket(world, queue_url, rate, rng)
            settings = daemon_settings(self.config, world, self.rules, tokens, queue_url)
            daemon = Daemon(
                settings,
                clock=lambda: utc(self.clock.now()),
                holder="demo-daemon",
                session=world.session,
                rng=random.Random(self.config.seed),
            )
            daemon.parts.store.create_table()
            assert daemon.demand_server is not None
            daemon.demand_server.start()
            daemon.tick_lease()
            daemon.run_pass()  # the pools a submission may name are known from here on
            try:
                self._loop(world, daemon)
            finally:
                daemon.stop()
        self.record.real_s = time.monotonic() - began
        return self.record

    def _loop(self, world: SimWorld, daemon: Daemon) -> None:
        config = self.config
        arrivals = self.workload.arrivals
        horizon = config.hours * 3600.0
        every = round(config.interval_s / config.step_s)
        next_arrival = 0
        step = 0
        settings_lease_every = daemon.settings.loop.lease_ttl_s / 3
        last_lease = -settings_lease_every
        report, changed = SyncReport(at=self.now()), True
        while self.now() < horizon:
            self.clock.advance(config.step_s)
            step += 1
            now = self.now()
            due = []
            while next_arrival < len(arrivals) and arrivals[next_arrival].submit_s <= now:
                due.append(next_arrival)
                next_arrival += 1
            if self.market is not None:
                self.market.step(now, config.step_s)
            world.core.tick()
            report = self._bridge_step(world, report, changed)
            if now - last_lease >= settings_lease_every - 1e-9:
                daemon.tick_lease()
                last_lease = now
            if due:
                self._settle(world, daemon)  # this tick's offers are answered before new work
                self._submit(daemon, due)
            pass_due = step % every == 0
            if pass_due:
                self._settle(world, daemon)  # the pass reads what the framework made of this step
            changed = pass_due and self._pass(daemon, now)
            if changed:
                report = world.bridge.sync()  # groups changed: instances launch or leave
                changed = False  # read since
            self._settle(world, daemon)
            sample = self._sample(world, daemon, now, report.waiting_pools)
            self.record.samples.append(sample)
            if self.progress is not None:
                self.progress(now / horizon, sample)
        self.record.busy_terminations = [str(v) for v in world.bridge.violations]
        if self.market is not None:
            self.record.interruptions = self.market.warnings
            lost = world.bridge.lost_to_reclaims
            self.record.lost_to_reclaims = sorted(t for v in lost for t in v.tasks)

    def _bridge_step(self, world: SimWorld, report: SyncReport, changed: bool) -> SyncReport:
        """One step of the bridge. Only API calls change moto's groups, and in a replay only
        the daemon's passes (and the Spot market) make them: with none since the last read,
        the bridge goes on from that read (booting instances register, gone ones leave on
        the clock) instead of reading the groups again, and with nothing booting or leaving
        it has nothing to do (most of a day's group reads, skipped)."""
        if changed or self.market is not None or report.errors:
            return world.bridge.sync()
        if report.waiting or report.leaving:
            return world.bridge.sync(reread=False)
        return report

    def _submit(self, daemon: Daemon, due: list[int]) -> None:
        base, gpu = self._pool_for
        batch = []
        for i in due:
            arrival = self.workload.arrivals[i]
            task_id = f"t{i:06d}"
            pool = gpu if arrival.gpus and gpu else base
            expected_s = expectation(self.config, arrival, self._noise)
            batch.append(submission(arrival, task_id, pool, expected_s, self.config.restartable))
            self.record.submitted[task_id] = arrival.submit_s
            self.record.pool_of[task_id] = pool
        assert daemon.demand_server is not None
        for start in range(0, len(batch), MAX_BATCH):
            request = urllib.request.Request(
                daemon.demand_server.url,
                data=json.dumps({"tasks": batch[start : start + MAX_BATCH]}).encode(),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {self._token}",
                },
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                if answer.status != 201:
                    raise RuntimeError(f"demand server refused a batch: {answer.status}")

    def _pass(self, daemon: Daemon, now: float) -> bool:
        """One daemon pass; whether it may have changed any group's instances (a pass that
        failed, or an action that failed, may have changed one before it stopped)."""
        result = daemon.run_pass()
        if result is None:
            return False
        self.record.passes += 1
        if result.outcome != "ok" or result.plan is None:
            self.record.failed_passes += 1
            log.warning("pass %s at %s: %s", result.outcome, result.stage, result.error)
            return True
        done = {(a.kind, a.asg) for a in result.actions if a.outcome == "done"}
        for up in result.plan.scale_up:
            if any(kind == "scale_up" and asg == up.asg for kind, asg in done):
                self.record.actions.append((now, up.pool, "scale-up", up.count, up.reason))
        for down in result.plan.scale_down:
            self.record.actions.append((now, down.pool, "drain", 1, down.reason))
        waits = sum(1 for u in result.plan.unplaced if u.reason.startswith("waits: "))
        if waits:
            self.record.actions.append((now, "-", "wait", waits, "tasks waiting for emptying"))
        for cordon in result.plan.cordon:
            self.record.actions.append((now, cordon.pool, "cordon", 1, cordon.reason))
        for back in result.plan.uncordon:
            self.record.actions.append((now, back.pool, "uncordon", 1, back.reason))
        for moved in result.actions:
            if moved.kind == "relocate" and moved.outcome == "done":
                self.record.actions.append((now, moved.asg, "relocate", 1, moved.detail))
        return any(
            a.outcome in ("done", "failed") and a.kind not in GROUP_NEUTRAL for a in result.actions
        )

    def _settle(self, world: SimWorld, daemon: Daemon) -> None:
        """Wait until the framework (it runs in real time) has answered every offer and
        acknowledged every update, and the daemon's event stream has applied every change.
        The clock stands still meanwhile, so each tick here makes only the offers due now;
        two quiet looks in a row end the wait."""
        core = world.core
        deadline = time.monotonic() + SETTLE_S
        calm = 0
        while calm < 2:
            core.tick()
            calm = calm + 1 if core.quiet() and self._watched(core, daemon) else 0
            if time.monotonic() >= deadline:
                self.record.unsettled_steps += 1
                log.warning("the framework had not answered within %.1f s; moving on", SETTLE_S)
                return
            time.sleep(SETTLE_POLL_S)

    @staticmethod
    def _watched(core: MasterCore, daemon: Daemon) -> bool:
        """The daemon's picture of the cluster holds every change the master sent it."""
        watch = daemon.parts.watch
        if watch is None or not watch.running:
            return True
        with core.lock:
            sent = core.watchers.changes_sent()
        return sent is None or (watch.picture.fresh and watch.picture.events == sent)

    def _sample(
        self, world: SimWorld, daemon: Daemon, now: float, launching: Mapping[str, int]
    ) -> Sample:
        record = self.record
        allocated: dict[str, dict[str, float]] = {}
        provisioned: dict[str, dict[str, float]] = {}
        instances: dict[str, int] = {}
        by_zone: dict[str, int] = {}
        running = set()
        with world.core.lock:
            agents = list(world.core.agents.values())
            for agent in agents:
                pool = agent.attributes.get("pool", "?")
                zone = agent.attributes.get("zone", "?")
                by_zone[str(zone)] = by_zone.get(str(zone), 0) + 1
                instances[str(pool)] = instances.get(str(pool), 0) + 1
                prov = provisioned.setdefault(str(pool), {"cpus": 0.0, "mem": 0.0})
                alloc = allocated.setdefault(str(pool), {"cpus": 0.0, "mem": 0.0})
                for name in ("cpus", "mem"):
                    prov[name] += agent.total.get(name, 0.0)
                for task in agent.tasks.values():
                    running.add(task.task_id)
                    record.started.setdefault(task.task_id, task.started - START)
                    for name in ("cpus", "mem"):
                        alloc[name] += task.resources.get(name, 0.0)
        # Ended: started and not running now (a relocated task runs again, so not ended).
        record.ended = {t for t in record.started if t not in running}
        for pool, count in launching.items():  # launching instances count in their own pool
            instances[pool] = instances.get(pool, 0) + count
        assert daemon.queue is not None
        pending = len(daemon.queue.pending())
        return Sample(now, pending, len(running), allocated, provisioned, instances, by_zone)
