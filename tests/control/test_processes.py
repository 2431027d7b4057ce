"""The daemon as real processes over moto + the emulator: `kill -9` of a leader holding
accepted work, and an instance that never registers. Nothing is simulated but AWS, Mesos
and the machines; the control planes are `controlplane run` subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.aws.pool_rules import PoolRules
from controlplane.config import load_settings
from controlplane.control.wiring import build
from controlplane.sim.world import SimWorld
from tests.control.conftest import CLUSTER, ZONES, realtime_spec
from tests.support.api_client import call, submit, token_file

RULES = PoolRules(
    min_idle=0, max_idle=0, idle_grace_s=1, scale_up_cooldown_s=0, scale_down_cooldown_s=0
)


@pytest.fixture
def world() -> Iterator[SimWorld]:
    with SimWorld(realtime_spec(RULES, 4)) as w:
        yield w


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(world: SimWorld, tmp_path: Path, name: str, **loop: float) -> tuple[Path, str]:
    """A daemon's config file and the URL of its task API."""
    port = _free_port()
    loop_lines = "".join(f"{k} = {v}\n" for k, v in loop.items())
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'cluster = "{CLUSTER}"\n'
        f'[mesos]\nmasters = ["{world.mesos_address}"]\nattempts = 3\nrefuse_seconds = 0.5\n'
        f'[aws]\nregion = "{world.region}"\nendpoint_url = "{world.moto_url}"\n'
        'state_table = "cp-proc"\ndiscovery_ttl_s = 1\n'
        f"[loop]\ninterval_s = 0.5\nlease_ttl_s = 5\nlease_margin_s = 1\n{loop_lines}"
        f'[demand]\nlisten_port = {port}\ndefault_command = "noop"\n'
        '[demand.commands]\nnoop = ["true"]\n'
        f'[demand.access]\ntokens_file = "{token_file(tmp_path)}"\n'
        "[ops]\nport = 0\njson_logs = false\n"
        "[default_rules]\nmax_idle = 0\nidle_grace_s = 1\nscale_down_cooldown_s = 0\n"
        "scale_up_cooldown_s = 0\n",
        encoding="utf-8",
    )
    return path, f"http://127.0.0.1:{port}/v1/tasks"


def _start(world: SimWorld, config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **world.env()}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "controlplane", "run", "--config", str(config)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait(cond: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _task(i: int, duration_s: float) -> dict[str, Any]:
    return {
        "id": f"t{i}",
        "job": "j",
        "resources": {"cpus": 1.0, "mem": 512.0},
        "pool": "batch",
        "labels": {"duration_s": str(duration_s)},
    }


def _stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _accepting(url: str) -> bool:
    try:
        status, _, _ = call(url, "POST", b"{}")  # an empty body: 400 once accepting, 503 before
    except OSError:
        return False  # not listening yet
    return status == 400


def test_kill_9_of_the_leader_loses_no_accepted_task(world: SimWorld, tmp_path: Path) -> None:
    first_cfg, first_url = _config(world, tmp_path, "first")
    second_cfg, second_url = _config(world, tmp_path, "second")
    store = build(load_settings(first_cfg), session=world.session).store
    store.create_table()
    first = _start(world, first_cfg, tmp_path / "first.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        _wait(lambda: _accepting(first_url), 30, "the first daemon to lead and accept work")
        second = _start(world, second_cfg, tmp_path / "second.log")
        # Two tasks that run long, four that cannot start before the kill (no agent yet).
        assert submit(first_url, [_task(i, 60.0) for i in range(2)])[0] == 201
        _wait(lambda: len(_running(world)) == 2, 30, "two tasks running")
        assert submit(first_url, [_task(i, 1.0) for i in range(2, 6)])[0] == 201
        leader = store.leader()
        assert leader is not None and f":{first.pid}:" in leader.holder
        os.kill(first.pid, signal.SIGKILL)  # no goodbye: no release, no flush
        first.wait()
        _wait(lambda: _accepting(second_url), 30, "the standby to lead and reconcile")
        # A task still running keeps its id: refused, not run twice.
        status, data = submit(second_url, [_task(0, 1.0)])
        assert status == 409 and "already" in data["error"], data
        _wait(lambda: _finished(world) >= {f"t{i}" for i in range(2, 6)}, 60, "the queued tasks")
        # The daemon learns of each finish from a status update a moment after the emulator.
        _wait(lambda: _counts(second_url).get("finished", 0) == 4, 30, "the daemon to see them")
        assert _counts(second_url).get("running", 0) == 2  # reconciled as running, not relaunched
        assert sorted(_launches(world)) == [f"t{i}" for i in range(6)]  # each launched once
    finally:
        _stop(first, *(p for p in [second] if p is not None))
    assert world.invariant_violations() == []


def test_an_instance_that_never_registers_is_replaced_elsewhere(
    world: SimWorld, tmp_path: Path
) -> None:
    world.bridge.dead_zones.add(ZONES[0])
    cfg, url = _config(world, tmp_path, "only", registration_deadline_s=3)
    build(load_settings(cfg), session=world.session).store.create_table()
    proc = _start(world, cfg, tmp_path / "only.log")
    try:
        _wait(lambda: _accepting(url), 30, "the daemon to accept work")
        assert submit(url, [_task(i, 30.0) for i in range(3)])[0] == 201
        dead = world.asg_name("batch", ZONES[0])
        _wait(lambda: _desired(world)[dead] == 1, 20, "a raise in every zone")
        _wait(lambda: _desired(world)[dead] == 0, 30, "the dead zone's instance terminated")
        _wait(lambda: len(_running(world)) == 3, 30, "all three tasks running elsewhere")
        settings = load_settings(cfg)
        ledger = build(settings, session=world.session).store.load().ledger
        assert dead in ledger.backoffs
        log = (tmp_path / "only.log").read_text()
        assert "registration deadline" in log
    finally:
        _stop(proc)
    assert world.invariant_violations() == []


def _counts(url: str) -> dict[str, int]:
    status, listing, _ = call(url)
    assert status == 200, listing
    counts: dict[str, int] = listing["counts"]
    return counts


def _running(world: SimWorld) -> set[str]:
    with world.core.lock:
        return {t for a in world.core.agents.values() for _, t in a.tasks}


def _finished(world: SimWorld) -> set[str]:
    with world.core.lock:
        return {t.task_id for t in world.core.completed_tasks if t.state == "TASK_FINISHED"}


def _launches(world: SimWorld) -> list[str]:
    """Every task id the master was asked to launch, once per launch."""
    with world.core.lock:
        return list(world.core.launched_ids)


def _desired(world: SimWorld) -> dict[str, int]:
    groups = world.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    return {g["AutoScalingGroupName"]: g["DesiredCapacity"] for g in groups}
