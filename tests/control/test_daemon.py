"""End to end in real time: moto + the Mesos emulator + two daemons with real pymesos drivers.

Demand arrives at the leader -> groups scale up in balanced zones -> agents register -> the
framework runs the tasks -> demand ends -> idle agents are drained and terminated, never
one with a task; only the leader acts, and a dead leader is replaced within its lease.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controlplane.aws.pool_rules import PoolRules
from controlplane.control.daemon import Daemon
from controlplane.sim.world import SimWorld
from tests.control.conftest import realtime_spec, settings_for
from tests.support.api_client import shared_token_file
from tests.support.api_client import submit as api_submit

RULES = PoolRules(
    min_idle=0, max_idle=0, idle_grace_s=1.5, scale_up_cooldown_s=0, scale_down_cooldown_s=0
)


def wait_for(cond: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def world() -> Iterator[SimWorld]:
    with SimWorld(realtime_spec(RULES, 6)) as w:
        yield w


def daemon(world: SimWorld, holder: str, **changes: object) -> Daemon:
    """A daemon of the real-time world; `changes` replace whole settings sections."""
    sections: dict[str, object] = {
        "default_rules": RULES.model_dump(),
        "mesos": {"masters": [world.mesos_address], "refuse_seconds": 0.5, "attempts": 3},
        "loop": {"interval_s": 0.5, "lease_ttl_s": 6, "lease_margin_s": 1},
        "demand": {
            "source": "framework",
            "listen_port": 0,
            "access": {"tokens_file": str(shared_token_file())},
            "commands": {"noop": ["true"]},
            "default_command": "noop",
        },
        "ops": {"port": 0, "json_logs": False},
    }
    settings = settings_for(world, **{**sections, **changes})
    d = Daemon(settings, holder=holder, session=world.session)
    d.parts.store.create_table()
    return d


def submit(d: Daemon, count: int, duration_s: float) -> int:
    assert d.demand_server is not None
    tasks = [
        {
            "id": f"t{i}",
            "job": "batch-job",
            "resources": {"cpus": 3.0, "mem": 2048.0},
            "pool": "batch",
            "labels": {"duration_s": str(duration_s)},
        }
        for i in range(count)
    ]
    return api_submit(d.demand_server.url, tasks)[0]


def desired(world: SimWorld) -> dict[str, int]:
    groups = world.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    return {g["AutoScalingGroupName"]: g["DesiredCapacity"] for g in groups}


def metric(d: Daemon, name: str, **labels: str) -> float:
    with urllib.request.urlopen(f"http://{d.ops.address}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_two_daemons_scale_up_run_work_and_drain_only_idle_agents(world: SimWorld) -> None:
    violations: list[str] = []
    stop = threading.Event()

    def watch() -> None:  # the invariant, checked all along, not only at the end
        while not stop.wait(0.1):
            violations.extend(world.invariant_violations())
            for name, value in desired(world).items():
                if not 0 <= value <= 6:
                    violations.append(f"{name} desired {value} outside [0, 6]")

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    first, second = daemon(world, "d1").start(), None
    try:
        wait_for(first.is_leader, 10, "the first daemon to lead")
        second = daemon(world, "d2").start()
        wait_for(lambda: first.framework is not None, 10, "the leader's framework")
        assert submit(second, 1, 1.0) == 503  # a standby takes no work
        wait_for(lambda: first.not_accepting() is None, 10, "the leader to accept work")
        assert submit(first, 6, 3.0) == 201
        wait_for(lambda: sorted(desired(world).values()) == [2, 2, 2], 20, "balanced scale-up")
        world.core.close_streams()  # the master drops every scheduler stream; pymesos resubscribes
        assert first.queue is not None
        queue = first.queue
        wait_for(lambda: queue.counts().get("finished", 0) == 6, 40, "all six tasks to finish")
        wait_for(lambda: sum(desired(world).values()) == 0, 40, "idle agents drained")
        wait_for(lambda: world.bridge.agents() == {}, 5, "agents of terminated instances to leave")
        assert second.last_pass is None  # only the leader acted
        last = first.last_pass
        assert last is not None and last.plan is not None
        assert last.snapshot is None  # a pass's snapshot does not outlive it (memory)
        assert metric(second, "controlplane_leader") == 0
        assert metric(first, "controlplane_leader") == 1
        assert metric(first, "controlplane_scale_actions_total", kind="scale_down") == 6
        with urllib.request.urlopen(f"http://{first.ops.address}/healthz", timeout=5) as r:
            assert json.loads(r.read())["leader"] is True

        # The leader dies without a word: no release, no more renewals.
        first.scheduler.shutdown(wait=True)
        died = time.monotonic()
        standby = second
        wait_for(standby.is_leader, 10, "the standby to take over")
        assert time.monotonic() - died <= 6 + 2 + 1  # lease time + one renewal period
        assert standby.parts.store.leader() is not None
        wait_for(lambda: standby.last_pass is not None, 5, "a pass by the new leader")
        assert standby.last_pass is not None and standby.last_pass.outcome == "ok"
    finally:
        stop.set()
        watcher.join()
        if second is not None:
            second.stop()
        first.stop()
    assert violations == []
