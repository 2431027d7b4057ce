"""`controlplane snapshot` and `controlplane run --once` against moto + the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.config import load_settings
from controlplane.control.wiring import build
from controlplane.sim.clock import VirtualClock
from controlplane.sim.world import SimWorld
from tests.control.conftest import CLUSTER, ZONES


def _config(world: SimWorld, tmp_path: Path, dry_run: bool = False) -> str:
    path = tmp_path / "cp.toml"
    path.write_text(
        f'cluster = "{CLUSTER}"\ndry_run = {"true" if dry_run else "false"}\n'
        f'[mesos]\nmasters = ["{world.mesos_address}"]\nattempts = 2\n'
        f'[aws]\nregion = "{world.region}"\nendpoint_url = "{world.moto_url}"\n'
        'state_table = "cp-cli"\n'
        "[default_rules]\nmax_idle = 0\nidle_grace_s = 0\nscale_down_cooldown_s = 0\n",
        encoding="utf-8",
    )
    build(load_settings(path), session=world.session).store.create_table()  # Terraform's job
    return str(path)


@pytest.fixture
def env(world: SimWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in world.env().items():
        monkeypatch.setenv(key, value)


def _fleet(world: SimWorld, clock: VirtualClock) -> None:
    for zone in ZONES:
        world.autoscaling.set_desired_capacity(
            AutoScalingGroupName=f"batch-{zone}", DesiredCapacity=1
        )
    world.bridge.sync()
    clock.advance(25)
    world.bridge.sync()


def test_snapshot_prints_the_observed_contract_snapshot(
    world: SimWorld,
    clock: VirtualClock,
    tmp_path: Path,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _fleet(world, clock)
    config = _config(world, tmp_path)
    assert main(["snapshot", "--config", config]) == 0
    snapshot = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in snapshot["pools"]] == ["batch"]
    assert len(snapshot["agents"]) == 3
    assert {a["asg"] for a in snapshot["agents"]} == {f"batch-{z}" for z in ZONES}
    snap_file = tmp_path / "snap.json"
    snap_file.write_text(json.dumps(snapshot))
    assert main(["plan", str(snap_file)]) == 0  # the operator can replay it


def test_run_once_dry_run_acts_on_nothing_and_a_real_one_drains(
    world: SimWorld,
    clock: VirtualClock,
    tmp_path: Path,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _fleet(world, clock)
    assert main(["run", "--once", "--dry-run", "--config", _config(world, tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "SCALE DOWN" in out and "dry_run" in out
    with world.core.locked():
        assert all(a.active for a in world.core.agents.values())
    assert main(["run", "--once", "--config", _config(world, tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("done     deactivate") == 3
    with world.core.locked():
        assert not any(a.active for a in world.core.agents.values())


def test_a_missing_state_table_is_named(
    world: SimWorld, tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Path(_config(world, tmp_path))
    config.write_text(config.read_text().replace("cp-cli", "nowhere"))
    assert main(["snapshot", "--config", str(config)]) == 2
    assert "state table nowhere does not exist" in capsys.readouterr().err


def test_bad_config_and_unreachable_mesos_are_clear_errors(
    world: SimWorld, tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('cluster = "x"\n[loop]\ninterval = 3\n')
    assert main(["snapshot", "--config", str(bad)]) == 2
    assert "loop.interval: unknown field" in capsys.readouterr().err
    world.emulator.become_standby(None)
    assert main(["snapshot", "--config", _config(world, tmp_path)]) == 2
    assert "cannot observe (observe_mesos)" in capsys.readouterr().err


def test_first_hour_init_run_once_and_exit_codes(
    world: SimWorld,
    clock: VirtualClock,
    tmp_path: Path,
    env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = Path(_config(world, tmp_path))
    config.write_text(config.read_text().replace("cp-cli", "fresh-table"))
    # No table yet: one line naming the fix, exit 2 (not a traceback).
    assert main(["run", "--once", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "controlplane init --config C" in err
    assert main(["init", "--config", str(config)]) == 0
    assert "created" in capsys.readouterr().out
    assert main(["init", "--config", str(config)]) == 0  # idempotent
    assert "exists already" in capsys.readouterr().out
    assert main(["run", "--once", "--config", str(config)]) == 0
    capsys.readouterr()
    store = build(load_settings(config), session=world.session).store
    from controlplane.control.wiring import utc_now  # noqa: PLC0415

    assert store.acquire("a-daemon", utc_now(), 60) is not None
    assert main(["run", "--once", "--config", str(config)]) == 3  # another control plane leads
    assert "a-daemon holds the lease" in capsys.readouterr().err
    monkeypatch.setenv("CONTROLPLANE_LOOP__INTERVALS", "5")
    assert main(["run", "--once", "--config", str(config)]) == 2
    assert "CONTROLPLANE_LOOP__INTERVALS: unknown setting" in capsys.readouterr().err
