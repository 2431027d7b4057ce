"""The emulated master's state machine: agents, offers, tasks and frameworks.

No HTTP here: `scheduler_calls` and `operator_calls` turn requests into calls on
`MasterCore`, and `tick()` moves time-driven things (task ends, heartbeats, decline filters,
drain grace periods, framework failover timeouts; `due` keeps what will be due, so a tick
costs what is). Offers are made by `allocation`, drains advanced by `drain`. One lock guards
everything; events go into per-framework queues that the HTTP layer writes out without
holding it.
"""

from __future__ import annotations

import itertools
import logging
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from controlplane.sim.clock import Clock, RealClock
from controlplane.sim.mesos_master import allocation, drain
from controlplane.sim.mesos_master.due import DueWork
from controlplane.sim.mesos_master.errors import CallError
from controlplane.sim.mesos_master.state import (
    HEARTBEAT_INTERVAL_S,
    JSON,
    EventStream,
    Framework,
    Offer,
    Scalars,
    SimAgent,
    SimTask,
    add_all,
    agent_json,
    new_uuid,
    positive,
    subtract,
    task_json,
    value,
)
from controlplane.sim.mesos_master.watchers import Watchers, task_updated

log = logging.getLogger(__name__)
DEFAULT_AGENT = {"cpus": 4.0, "mem": 16384.0, "disk": 100000.0}


class MasterCore:
    """One Mesos master's memory. Thread-safe; every public method takes the lock."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        master_id: str | None = None,
        allocation_interval_s: float = 1.0,
        offer_timeout_s: float | None = None,
        max_completed_tasks: int = 1000,
    ) -> None:
        self.clock = clock or RealClock()
        self.master_id = master_id or str(uuid.uuid4())
        self.allocation_interval_s = allocation_interval_s
        self.offer_timeout_s = offer_timeout_s
        self.lock = threading.RLock()
        self.agents: dict[str, SimAgent] = {}
        self.gone_agents: set[str] = set()
        self.frameworks: dict[str, Framework] = {}
        self.completed_frameworks: set[str] = set()
        self.offers: dict[str, Offer] = {}
        #: Mesos' --max_completed_tasks_per_framework (1000); kept for the whole master here.
        self.completed_tasks: deque[SimTask] = deque(maxlen=max_completed_tasks)
        #: Every task id launched, in order, once per launch (tests count relaunches).
        self.launched_ids: list[str] = []
        self._ids = itertools.count()
        self._agent_ids = itertools.count()
        self._framework_ids = itertools.count()
        self._allocate_now = True
        self._next_allocation = 0.0
        #: Where the leading master listens (set by the emulator that leads).
        self.address = "127.0.0.1:5050"
        #: Operator API subscribers (SUBSCRIBE on /api/v1): every change is an event to them.
        self.watchers = Watchers()
        #: Task ends and draining agents, so a tick touches only what is due.
        self.due = DueWork()

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self.lock:
            yield

    def now(self) -> float:
        return self.clock.now()

    def next_id(self) -> int:
        """The next number of the master's offer ids."""
        return next(self._ids)

    # ---- agents -------------------------------------------------------------------------

    def add_agent(
        self,
        hostname: str | None = None,
        resources: Scalars | None = None,
        attributes: dict[str, str | float] | None = None,
        *,
        agent_id: str | None = None,
    ) -> str:
        """Register an agent; returns its id (`<masterId>-S<n>` unless given)."""
        with self.lock:
            agent_id = agent_id or f"{self.master_id}-S{next(self._agent_ids)}"
            host = hostname or f"agent-{len(self.agents) + len(self.gone_agents) + 1}"
            self.agents[agent_id] = SimAgent(
                id=agent_id,
                hostname=host,
                total=dict(resources or DEFAULT_AGENT),
                attributes=dict(attributes or {}),
                registered=self.now(),
            )
            self._allocate_now = True
            added = self.agents[agent_id]
            self.watchers.notify(
                lambda: {"type": "AGENT_ADDED", "agent_added": {"agent": agent_json(added, {})}}
            )
            return agent_id

    def remove_agent(self, agent_id: str, *, by_operator: bool = False) -> None:
        """The agent is gone: its tasks are lost, its offers rescinded, frameworks told."""
        with self.lock:
            agent = self.agent(agent_id)
            reason = "REASON_AGENT_REMOVED_BY_OPERATOR" if by_operator else "REASON_AGENT_REMOVED"
            self.rescind_agent_offers(agent_id)
            for task in list(agent.tasks.values()):
                self.end_task(task, "TASK_LOST", reason, "agent removed", from_agent=False)
            del self.agents[agent_id]
            self.gone_agents.add(agent_id)
            gone = {"agent_id": value(agent_id)}
            self.watchers.notify(lambda: {"type": "AGENT_REMOVED", "agent_removed": gone})
            for fw in self.frameworks.values():
                fw.send({"type": "FAILURE", "failure": {"agent_id": value(agent_id)}})

    def set_active(self, agent_id: str, active: bool) -> None:
        """DEACTIVATE_AGENT / REACTIVATE_AGENT (see `drain`)."""
        with self.lock:
            drain.set_active(self, self.agent(agent_id), active)

    def drain_agent(self, agent_id: str, grace_s: float | None, mark_gone: bool) -> None:
        """DRAIN_AGENT (see `drain`)."""
        with self.lock:
            drain.start(self, self.agent(agent_id), grace_s, mark_gone)

    def agent(self, agent_id: str) -> SimAgent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise CallError(400, f"Agent {agent_id} not found")
        return agent

    # ---- frameworks ---------------------------------------------------------------------

    def subscribe(self, info: JSON, framework_id: str | None) -> tuple[Framework, EventStream]:
        """Subscribe (or resubscribe / fail over) a framework; returns its new stream."""
        with self.lock:
            now = self.now()
            stream = EventStream()
            if framework_id in self.completed_frameworks:
                stream.put({"type": "ERROR", "error": {"message": "Framework has been removed"}})
                stream.close()
                raise SubscribeRefusedError(stream)
            if framework_id is None:
                framework_id = f"{self.master_id}-{next(self._framework_ids):04d}"
            fw = self.frameworks.get(framework_id)
            timeout = float(info.get("failover_timeout", 0.0))
            if fw is None:
                fw = Framework(framework_id, info, now, timeout)
                self.frameworks[framework_id] = fw
            else:
                if fw.stream is not None and not fw.stream.closed:
                    fw.stream.put({"type": "ERROR", "error": {"message": "Framework failed over"}})
                    fw.stream.close()
                # Outstanding offers go back: the new connection gets fresh ones.
                for offer in [o for o in self.offers.values() if o.framework_id == fw.id]:
                    del self.offers[offer.id]
                fw.info = info
                fw.failover_timeout_s = timeout
            fw.stream = stream
            fw.disconnected_at = None
            fw.suppressed = False
            fw.filters.clear()
            stream.put(
                {
                    "type": "SUBSCRIBED",
                    "subscribed": {
                        "framework_id": value(framework_id),
                        "heartbeat_interval_seconds": HEARTBEAT_INTERVAL_S,
                        "master_info": self.master_info(),
                    },
                }
            )
            stream.put({"type": "HEARTBEAT"})
            fw.next_heartbeat = now + HEARTBEAT_INTERVAL_S
            # Updates left unacknowledged on an earlier stream are not sent again (Mesos's
            # agents would retry them): they stop counting, or `quiet()` would never hold.
            fw.unacked.clear()
            for event in fw.backlog:
                fw.send(event)  # counted again as unacknowledged, then queued
            fw.backlog.clear()
            self._allocate_now = True
            return fw, stream

    def stream_closed(self, framework_id: str, stream: EventStream) -> None:
        """The HTTP connection of `stream` ended (client went away or server stopped)."""
        with self.lock:
            stream.close()
            fw = self.frameworks.get(framework_id)
            if fw is not None and fw.stream is stream:
                fw.stream = None
                fw.disconnected_at = self.now()
                for offer in [o for o in self.offers.values() if o.framework_id == fw.id]:
                    del self.offers[offer.id]
                self._allocate_now = True

    def close_streams(self) -> None:
        """End every framework's connection (the master steps down or stops)."""
        with self.lock:
            for fw in self.frameworks.values():
                if fw.stream is not None:
                    self.stream_closed(fw.id, fw.stream)

    def remove_framework(self, framework_id: str) -> None:
        """TEARDOWN or failover timeout: kill its tasks, drop its offers, forget it."""
        with self.lock:
            fw = self.frameworks.pop(framework_id)
            self.completed_frameworks.add(framework_id)
            for offer in [o for o in self.offers.values() if o.framework_id == framework_id]:
                del self.offers[offer.id]
            for agent in self.agents.values():
                for task in [t for t in agent.tasks.values() if t.framework_id == framework_id]:
                    self.end_task(task, "TASK_KILLED", None, "framework removed")
            if fw.stream is not None:
                fw.stream.close()
            self._allocate_now = True

    def master_info(self) -> JSON:
        host, _, port = self.address.rpartition(":")
        return {"id": self.master_id, "hostname": host, "port": int(port), "version": "1.11.0"}

    # ---- tasks --------------------------------------------------------------------------

    def status(
        self, task: SimTask, reason: str | None, message: str | None, *, from_agent: bool
    ) -> JSON:
        status: JSON = {
            "task_id": value(task.task_id),
            "state": task.state,
            "agent_id": value(task.agent_id),
            "source": "SOURCE_EXECUTOR" if from_agent else "SOURCE_MASTER",
            "timestamp": self.now(),
        }
        if reason:
            status["reason"] = reason
        if message:
            status["message"] = message
        if from_agent:
            # Only agent-generated updates carry a uuid (and want an acknowledgement).
            status["uuid"] = new_uuid()
        return status

    def send_update(self, framework_id: str, status: JSON) -> None:
        fw = self.frameworks.get(framework_id)
        if fw is not None:
            fw.send({"type": "UPDATE", "update": {"status": status}})

    def end_task(
        self,
        task: SimTask,
        state: str,
        reason: str | None,
        message: str | None,
        *,
        from_agent: bool = True,
    ) -> None:
        agent = self.agents.get(task.agent_id)
        if agent is not None:
            agent.tasks.pop((task.framework_id, task.task_id), None)
        task.state = state
        status = self.status(task, reason, message, from_agent=from_agent)
        task.statuses.append(status)
        self.completed_tasks.append(task)
        self.send_update(task.framework_id, status)
        self._allocate_now = True
        self.watchers.notify(lambda: task_updated(task, status))

    def kill(self, framework_id: str, task_id: str) -> None:
        with self.lock:
            task = self.find_task(framework_id, task_id)
            if task is None:
                fake = SimTask(task_id, "", framework_id, "", {}, {}, self.now(), None)
                fake.state = "TASK_LOST"
                status = self.status(
                    fake, "REASON_RECONCILIATION", "unknown task", from_agent=False
                )
                status.pop("agent_id")
                self.send_update(framework_id, status)
                return
            self.end_task(
                task,
                "TASK_KILLED",
                "REASON_TASK_KILLED_DURING_LAUNCH" if task.state == "TASK_STAGING" else None,
                "killed",
            )
            drain.advance(self, self.agents[task.agent_id], self.now())

    def find_task(self, framework_id: str, task_id: str) -> SimTask | None:
        for agent in self.agents.values():
            task = agent.tasks.get((framework_id, task_id))
            if task is not None:
                return task
        return None

    def launch(self, agent: SimAgent, task: SimTask) -> None:
        self.launched_ids.append(task.task_id)
        agent.tasks[(task.framework_id, task.task_id)] = task
        task.state = "TASK_RUNNING"
        self.due.started(task)
        status = self.status(task, None, None, from_agent=True)
        task.statuses.append(status)
        self.send_update(task.framework_id, status)
        self.watchers.notify(
            lambda: {"type": "TASK_ADDED", "task_added": {"task": task_json(task)}}
        )

    # ---- offers -------------------------------------------------------------------------

    def offered(self, agent_id: str) -> Scalars:
        return add_all(o.resources for o in self.offers.values() if o.agent_id == agent_id)

    def offered_map(self) -> dict[str, Scalars]:
        """Every agent's outstanding offers, summed in one walk over the offers."""
        by_agent: dict[str, list[Scalars]] = {}
        for offer in self.offers.values():
            by_agent.setdefault(offer.agent_id, []).append(offer.resources)
        return {agent_id: add_all(parts) for agent_id, parts in by_agent.items()}

    def free(self, agent: SimAgent, offered: Scalars | None = None) -> Scalars:
        held = self.offered(agent.id) if offered is None else offered
        return positive(subtract(subtract(agent.total, agent.allocated()), held))

    def rescind_agent_offers(self, agent_id: str) -> None:
        for offer in [o for o in self.offers.values() if o.agent_id == agent_id]:
            self.rescind(offer)

    def rescind(self, offer: Offer) -> None:
        self.offers.pop(offer.id, None)
        fw = self.frameworks.get(offer.framework_id)
        if fw is not None:
            fw.send({"type": "RESCIND", "rescind": {"offer_id": value(offer.id)}})
        self._allocate_now = True

    def recover(self, offer: Offer, refuse_s: float) -> None:
        """Unused offer resources go back; the framework refuses the agent for `refuse_s`."""
        self.offers.pop(offer.id, None)
        fw = self.frameworks.get(offer.framework_id)
        if fw is not None and refuse_s > 0:
            fw.filters[offer.agent_id] = self.now() + refuse_s
        self._allocate_now = True

    def request_allocation(self) -> None:
        """Make offers at the next tick rather than at the next allocation interval."""
        self._allocate_now = True

    def revive(self, framework_id: str) -> None:
        fw = self.frameworks[framework_id]
        fw.suppressed = False
        fw.filters.clear()
        self._allocate_now = True

    # ---- time ---------------------------------------------------------------------------

    def tick(self) -> None:
        """Do whatever the clock says is due; cheap when nothing is."""
        with self.lock:
            now = self.now()
            for task in self.due.exited(now, self.agents):
                self.end_task(task, task.outcome, None, "command exited")
            for agent in self.due.draining_agents(self.agents):
                drain.advance(self, agent, now)
            for fw in list(self.frameworks.values()):
                if fw.stream is not None and not fw.stream.closed:
                    if now >= fw.next_heartbeat:
                        fw.stream.put({"type": "HEARTBEAT"})
                        fw.next_heartbeat = now + HEARTBEAT_INTERVAL_S
                elif (
                    fw.disconnected_at is not None
                    and now - fw.disconnected_at >= fw.failover_timeout_s
                ):
                    log.info("framework %s failover timeout: removing it", fw.id)
                    self.remove_framework(fw.id)
            if self.offer_timeout_s is not None:
                # Offers are kept in the order they were made: the oldest come first.
                for offer in list(self.offers.values()):
                    if now - offer.created < self.offer_timeout_s:
                        break
                    self.rescind(offer)
            self.watchers.tick(now)
            if self._allocate_now or now >= self._next_allocation:
                self._allocate_now = False
                self._next_allocation = now + self.allocation_interval_s
                allocation.allocate(self, now)

    def quiet(self) -> bool:
        """Nothing is waiting on a connected framework: no offer unanswered, no allocation
        due, no agent update unacknowledged. A replay on a virtual clock waits for this, so
        what a framework does in real time lands before the clock moves."""
        with self.lock:
            if self.offers or self._allocate_now:
                return False
            return not any(
                fw.unacked
                for fw in self.frameworks.values()
                if fw.stream is not None and not fw.stream.closed
            )

    def invariant_violations(self) -> list[str]:
        """Offered + allocated must never exceed an agent's total (used by tests)."""
        with self.lock:
            return allocation.violations(self)


class SubscribeRefusedError(Exception):
    """SUBSCRIBE of a removed framework: answered with a stream holding only an ERROR."""

    def __init__(self, stream: EventStream) -> None:
        super().__init__("framework removed")
        self.stream = stream
