"""`controlplane run` as a real process: it leads, and SIGTERM stops it cleanly, handing over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from controlplane.config import load_settings
from controlplane.control.wiring import build
from controlplane.sim.world import SimWorld
from tests.control.conftest import CLUSTER
from tests.support.api_client import token_file


def test_sigterm_releases_the_lease_and_exits_zero(world: SimWorld, tmp_path: Path) -> None:
    config = tmp_path / "cp.toml"
    config.write_text(
        f'cluster = "{CLUSTER}"\n'
        f'[mesos]\nmasters = ["{world.mesos_address}"]\nattempts = 2\n'
        f'[aws]\nregion = "{world.region}"\nendpoint_url = "{world.moto_url}"\n'
        'state_table = "cp-sig"\n'
        "[loop]\ninterval_s = 0.5\nlease_ttl_s = 30\n"
        "[demand]\nlisten_port = 0\n"
        f'[demand.access]\ntokens_file = "{token_file(tmp_path)}"\n'
        "[ops]\nport = 0\n",
        encoding="utf-8",
    )
    store = build(load_settings(config), session=world.session).store
    store.create_table()
    env = {**os.environ, **world.env()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlplane", "run", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            lease = store.leader()
            if lease is not None and lease.valid(datetime.now(UTC)):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the daemon never took the lease")
        time.sleep(1.5)  # a few passes
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    released = store.leader()
    assert released is not None and not released.valid(datetime.now(UTC))
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    messages = [line["msg"] for line in lines]
    assert any(m.startswith("pass ok") for m in messages), messages
    assert any("framework stopped with failover" in m for m in messages), messages
    assert any(m.startswith("control plane") and m.endswith("stopped") for m in messages)
    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
