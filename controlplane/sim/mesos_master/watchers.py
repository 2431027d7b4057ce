"""The operator API's event stream subscribers (SUBSCRIBE on /api/v1) of one master.

The core tells them every change it makes (TASK_ADDED, TASK_UPDATED, AGENT_ADDED,
AGENT_REMOVED) and beats a HEARTBEAT every `HEARTBEAT_INTERVAL_S`; an event is built only
when someone listens, so a master nobody watches pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from controlplane.sim.mesos_master.state import (
    HEARTBEAT_INTERVAL_S,
    JSON,
    EventStream,
    SimTask,
    value,
)


class Watchers:
    """Open operator streams; not thread-safe by itself (the core's lock guards it)."""

    def __init__(self) -> None:
        self.streams: list[EventStream] = []
        self._next_heartbeat = 0.0

    def add(self, stream: EventStream, now: float) -> None:
        """A subscriber whose SUBSCRIBED is already queued."""
        self.streams.append(stream)
        self._next_heartbeat = now + HEARTBEAT_INTERVAL_S

    def notify(self, event: Callable[[], JSON]) -> None:
        if not self.streams:
            return
        self.streams = [s for s in self.streams if not s.closed]
        if self.streams:
            built = event()
            change = built.get("type") != "HEARTBEAT"
            for stream in self.streams:
                stream.put(built)
                stream.changes += change

    def changes_sent(self) -> int | None:
        """Changes sent on the newest open stream since its SUBSCRIBED (None: no stream), so
        a harness can wait until a subscriber has applied them all."""
        open_ = [s for s in self.streams if not s.closed]
        return open_[-1].changes if open_ else None

    def tick(self, now: float) -> None:
        if self.streams and now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT_INTERVAL_S
            self.notify(lambda: {"type": "HEARTBEAT"})

    def close(self) -> None:
        for stream in self.streams:
            stream.close()
        self.streams = []


def task_updated(task: SimTask, status: JSON) -> JSON:
    update = {"framework_id": value(task.framework_id), "status": status, "state": task.state}
    return {"type": "TASK_UPDATED", "task_updated": update}
