"""The bridge from Auto Scaling instances to Mesos agents: EC2 boots, an agent registers.

In production an instance launched by a pool's group boots, starts a Mesos agent, and that
agent registers with the master; when the instance dies the master notices after missed
health checks. `FleetBridge.sync()` plays that part between moto and the emulator's
`MasterCore`, one step at a time, reading time from the injected clock. The resources an
agent registers with are computed by the AWS adapter's own code (`InstanceTypeInfo.capacity`
under the pool's rules, tag overrides included), so the planner's idea of a new instance and
the agent that then appears agree exactly.

A reply the bridge cannot read is logged and counted and changes nothing: no agent is
registered from half-read data and none is removed because its group could not be read.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controlplane.aws.calls import AwsCaller, BotoClient
from controlplane.aws.discovery import GroupDirectory
from controlplane.aws.errors import BadAwsReplyError
from controlplane.aws.pool_rules import AdapterSettings, PoolRules
from controlplane.aws.replies import TERMINATING_WAIT, ObservedGroup, ObservedInstance, parse_group
from controlplane.sim.clock import Clock, utc
from controlplane.sim.fleet_reads import (
    READ_ERRORS,
    AgentProfile,
    AgentProfiles,
    instance_type_of,
    running_hostnames,
)
from controlplane.sim.mesos_master import MasterCore

log = logging.getLogger(__name__)


def agent_id_for(instance_id: str) -> str:
    """The agent id of an instance: stable, so tests and the demo can name it."""
    return f"agent-{instance_id}"


@dataclass(frozen=True)
class Violation:
    """An instance left its group while its agent still ran tasks (the product's core rule)."""

    instance_id: str
    agent_id: str
    asg: str
    at: float
    tasks: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"instance {self.instance_id} of {self.asg} left while agent {self.agent_id} "
            f"ran tasks {list(self.tasks)}"
        )


@dataclass(frozen=True)
class SyncReport:
    """What one step did. Lists hold instance ids."""

    at: float
    registered: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    #: Seen, still booting (or held back by an error); an agent comes later.
    waiting: tuple[str, ...] = ()
    #: Pool -> instances waiting to register (launching capacity, by its own pool).
    waiting_pools: Mapping[str, int] = field(default_factory=dict)
    #: Gone from their group; the agent stays until `gone_delay_s` has passed.
    leaving: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    violations: tuple[Violation, ...] = ()


@dataclass
class _Tracked:
    instance_id: str
    asg: str
    first_seen: float
    registered: bool = False
    gone_since: float | None = None


@dataclass
class _Step:
    at: float
    registered: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)

    def error(self, message: str) -> None:
        log.warning("fleet bridge: %s", message)
        self.errors.append(message)


class FleetBridge:
    """Makes the cluster's group instances into emulator agents (and takes them away)."""

    def __init__(
        self,
        core: MasterCore,
        autoscaling: BotoClient,
        ec2: BotoClient,
        *,
        cluster: str,
        rules: Callable[[str], PoolRules] | AdapterSettings,
        clock: Clock,
        boot_delay_s: float = 30.0,
        gone_delay_s: float = 0.0,
        caller: AwsCaller | None = None,
        ec2_hostnames: bool = True,
    ) -> None:
        """`ec2_hostnames=False`: an agent's hostname is its instance id, not read from
        DescribeInstances (moto looks each instance's tags up among all of them, so at tens
        of thousands of instances registering them took most of an hour)."""
        if boot_delay_s < 0 or gone_delay_s < 0:
            raise ValueError("boot_delay_s and gone_delay_s must be >= 0")
        self.core = core
        self.boot_delay_s = boot_delay_s
        self.gone_delay_s = gone_delay_s
        self._clock = clock
        self._ec2 = ec2
        self._ec2_hostnames = ec2_hostnames
        rules_of = rules.rules_for if isinstance(rules, AdapterSettings) else rules
        self._caller = caller or AwsCaller(max_attempts=3, base_delay_s=0.05, max_delay_s=0.5)
        self._directory = GroupDirectory(
            self._caller,
            autoscaling,
            AdapterSettings(cluster=cluster, cache_jitter=0.0),
            random.Random(0),
        )
        self._profiles = AgentProfiles(self._caller, ec2, rules_of)
        self._tracked: dict[str, _Tracked] = {}
        #: The groups as the last read found them (`sync(reread=False)` goes on from it).
        self._last_read: list[Mapping[str, Any]] | None = None
        #: Zones whose instances boot but never register (a broken image, a blocked
        #: network): the faults a registration deadline exists for.
        self.dead_zones: set[str] = set()
        self._pool_of: dict[str, str] = {}
        self._lock = threading.Lock()
        self.violations: list[Violation] = []
        #: Instances AWS takes back (Spot): leaving with tasks is then not the control
        #: plane's doing, and is kept apart (`lost_to_reclaims`).
        self.reclaimed: set[str] = set()
        self.lost_to_reclaims: list[Violation] = []
        self.error_count = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- one step -----------------------------------------------------------------------

    def sync(self, reread: bool = True) -> SyncReport:
        """Register agents of instances booted long enough; remove those of gone ones.

        `reread=False` goes on from the groups as last read, for a caller that knows no API
        call changed them since (a replay's steps between passes); without a last read,
        the groups are read.
        """
        with self._lock:
            step = _Step(self._clock.now())
            self._sync(step, reread)
            self.error_count += len(step.errors)
            self.violations.extend(step.violations)
            return SyncReport(
                at=step.at,
                registered=tuple(sorted(step.registered)),
                removed=tuple(sorted(step.removed)),
                waiting=tuple(
                    sorted(
                        i
                        for i, t in self._tracked.items()
                        if not t.registered and t.gone_since is None
                    )
                ),
                waiting_pools=self._waiting_pools(),
                leaving=tuple(
                    sorted(i for i, t in self._tracked.items() if t.gone_since is not None)
                ),
                errors=tuple(step.errors),
                violations=tuple(step.violations),
            )

    def _waiting_pools(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self._tracked.values():
            if not t.registered and t.gone_since is None:
                pool = self._pool_of.get(t.asg, "?")
                out[pool] = out.get(pool, 0) + 1
        return out

    def _sync(self, step: _Step, reread: bool) -> None:
        raws = self._last_read
        if reread or raws is None:
            self._last_read = None
            try:
                self._directory.invalidate()  # the bridge needs every group's instances now
                raws = self._directory.describe(utc(step.at))
            except READ_ERRORS as error:
                step.error(f"describe groups: {error}")
                return
            self._last_read = raws
        groups: dict[str, tuple[ObservedGroup, Mapping[str, Any]]] = {}
        unreadable: set[str] = set()
        for raw in raws:
            try:
                group = parse_group(raw)
            except BadAwsReplyError as error:
                step.error(str(error))
                unreadable.add(str(raw.get("AutoScalingGroupName") or "?"))
                continue
            groups[group.name] = (group, raw)
            self._pool_of[group.name] = group.pool
        present = {
            inst.instance_id: (group, inst)
            for group, _ in groups.values()
            for inst in group.instances
            if _alive(inst)
        }
        for _, tracked in sorted(self._tracked.items()):
            # Gone only when its group was read (or, all groups read, the group vanished).
            known = tracked.asg in groups or not unreadable
            if tracked.instance_id not in present and known and tracked.gone_since is None:
                self._notice_gone(tracked, step)
        for iid, (group, inst) in present.items():
            if iid not in self._tracked and not inst.leaving:
                self._tracked[iid] = _Tracked(iid, group.name, step.at)
        ready = [
            t
            for t in self._tracked.values()
            if not t.registered
            and t.gone_since is None
            and step.at - t.first_seen >= self.boot_delay_s
            and t.instance_id in present
            and not present[t.instance_id][1].leaving
            and present[t.instance_id][0].zone not in self.dead_zones
        ]
        if ready:
            self._register(ready, groups, step)
        for tracked in list(self._tracked.values()):
            if tracked.gone_since is not None and step.at - tracked.gone_since >= self.gone_delay_s:
                self._remove(tracked, step)

    def _notice_gone(self, tracked: _Tracked, step: _Step) -> None:
        if not tracked.registered:  # died while booting: no agent to take away
            del self._tracked[tracked.instance_id]
            return
        tracked.gone_since = step.at
        aid = agent_id_for(tracked.instance_id)
        with self.core.lock:
            agent = self.core.agents.get(aid)
            tasks = sorted(task_id for _, task_id in agent.tasks) if agent else []
        if tasks:
            violation = Violation(tracked.instance_id, aid, tracked.asg, step.at, tuple(tasks))
            if tracked.instance_id in self.reclaimed:
                self.lost_to_reclaims.append(violation)
                return
            log.error("fleet bridge: %s", violation)
            step.violations.append(violation)

    def _remove(self, tracked: _Tracked, step: _Step) -> None:
        del self._tracked[tracked.instance_id]
        aid = agent_id_for(tracked.instance_id)
        with self.core.lock:
            if aid not in self.core.agents:  # removed already (e.g. drained with mark_gone)
                return
            self.core.remove_agent(aid)
        step.removed.append(tracked.instance_id)

    # ---- registration -------------------------------------------------------------------

    def _register(
        self,
        ready: list[_Tracked],
        groups: Mapping[str, tuple[ObservedGroup, Mapping[str, Any]]],
        step: _Step,
    ) -> None:
        ids = [t.instance_id for t in ready]
        try:
            hosts = (
                running_hostnames(self._caller, self._ec2, ids)
                if self._ec2_hostnames
                else {i: i for i in ids}
            )
        except READ_ERRORS as error:
            step.error(f"describe instances: {error}")
            return
        profiles: dict[tuple[str, str | None], AgentProfile | None] = {}
        for tracked in ready:
            group, raw = groups[tracked.asg]
            if tracked.instance_id not in hosts:
                continue  # not running (yet), or missing from the EC2 reply: wait
            key = (group.name, instance_type_of(raw, tracked.instance_id))
            if key not in profiles:
                try:
                    profiles[key] = self._profiles.profile(group, key[1], utc(step.at))
                except READ_ERRORS as error:
                    step.error(f"group {group.name}: {error}")
                    profiles[key] = None
            profile = profiles[key]
            if profile is None:
                continue
            attributes = {**profile.attributes, "instance_id": tracked.instance_id}
            tracked.registered = True
            if self._add_agent(
                tracked.instance_id, hosts[tracked.instance_id], profile.resources, attributes
            ):
                step.registered.append(tracked.instance_id)

    def _add_agent(
        self,
        instance_id: str,
        hostname: str,
        resources: dict[str, float],
        attributes: dict[str, str | float],
    ) -> bool:
        # Agent ids derived from the instance, so a later bridge adopts them.
        aid = agent_id_for(instance_id)
        with self.core.lock:
            if aid in self.core.agents or aid in self.core.gone_agents:
                return False  # adopted from an earlier bridge, or removed by the operator
            self.core.add_agent(hostname, resources, attributes, agent_id=aid)
            return True

    # ---- queries and the background runner ---------------------------------------------

    def agents(self) -> dict[str, str]:
        """Instance id -> agent id of every agent the bridge registered and still tracks."""
        with self._lock:
            return {
                iid: agent_id_for(iid) for iid, t in sorted(self._tracked.items()) if t.registered
            }

    def start(self, interval_s: float = 0.1) -> FleetBridge:
        """Sync every `interval_s` real seconds on a daemon thread until `stop()`."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(interval_s,), daemon=True, name="fleet-bridge"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the runner and wait for it (safe to call twice or when never started)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.sync()
            except Exception:  # a bridge bug must not end the world; it is counted
                log.exception("fleet bridge step failed")
                self.error_count += 1


def _alive(inst: ObservedInstance) -> bool:
    """Still running: not leaving, or held in Terminating:Wait by a hook so it can drain."""
    return not inst.leaving or inst.lifecycle_state == TERMINATING_WAIT
