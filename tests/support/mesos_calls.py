"""Test helpers: deadline waits and a pymesos scheduler that records what it hears."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from pymesos import Scheduler


def wait_for(cond: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `cond` until truthy (returned) or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Recorder(Scheduler):  # type: ignore[misc]
    """Records callbacks. `on_offers(driver, offers)` may act on offers (default: hold)."""

    def __init__(self, on_offers: Callable[[Any, list[Any]], None] | None = None) -> None:
        self.lock = threading.Lock()
        self.framework_ids: list[str] = []
        self.reregistrations = 0
        self.heartbeats = 0
        self.offers: list[Any] = []
        self.rescinded: list[str] = []
        self.updates: list[Any] = []
        self.errors: list[str] = []
        self.lost_agents: list[str] = []
        self.disconnects = 0
        self.on_offers = on_offers

    def registered(self, driver: Any, framework_id: Any, master_info: Any) -> None:
        self.framework_ids.append(framework_id["value"])

    def reregistered(self, driver: Any, master_info: Any) -> None:
        self.reregistrations += 1

    def disconnected(self, driver: Any) -> None:
        self.disconnects += 1

    def processHeartBeat(self, driver: Any) -> None:  # noqa: N802
        self.heartbeats += 1

    def resourceOffers(self, driver: Any, offers: list[Any]) -> None:  # noqa: N802
        with self.lock:
            self.offers.extend(offers)
        if self.on_offers is not None:
            self.on_offers(driver, offers)

    def offerRescinded(self, driver: Any, offer_id: Any) -> None:  # noqa: N802
        self.rescinded.append(offer_id["value"])

    def statusUpdate(self, driver: Any, status: Any) -> None:  # noqa: N802
        with self.lock:
            self.updates.append(status)

    def slaveLost(self, driver: Any, agent_id: Any) -> None:  # noqa: N802
        self.lost_agents.append(agent_id["value"])

    def error(self, driver: Any, message: str) -> None:
        self.errors.append(message)
        driver.stop(failover=True)

    def states(self, task_id: str) -> list[str]:
        with self.lock:
            return [u["state"] for u in self.updates if u["task_id"]["value"] == task_id]

    def update(self, task_id: str, state: str) -> Any:
        with self.lock:
            for u in self.updates:
                if u["task_id"]["value"] == task_id and u["state"] == state:
                    return u
        return None


def task(
    task_id: str, offer: Any, cpus: float = 1.0, mem: float = 128.0, **labels: str
) -> dict[str, Any]:
    """A TaskInfo on `offer`'s agent."""
    info: dict[str, Any] = {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": {"value": offer["agent_id"]["value"]},
        "command": {"value": "sleep 1", "shell": True},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
    }
    if labels:
        info["labels"] = {"labels": [{"key": k, "value": v} for k, v in labels.items()]}
    return info


def scalar_offer(agent: str, cpus: float, mem: float = 8000.0) -> dict[str, Any]:
    """An offer of `cpus` and `mem` on `agent` (also its id and hostname), no attributes."""
    return {
        "id": {"value": f"o-{agent}"},
        "agent_id": {"value": agent},
        "hostname": agent,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "attributes": [],
    }
