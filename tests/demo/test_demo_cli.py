"""`controlplane demo` end to end: moto, the Mesos emulator and the real daemon, short runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.config import ConfigError
from controlplane.demo.config import load_demo_config

KEYS = {
    "instance_hours",
    "oracle_instance_hours",
    "static_peak_instance_hours",
    "cost_usd",
    "tasks_submitted",
    "tasks_completed",
    "p50_wait_s",
    "p95_wait_s",
    "busy_terminations",
}


def test_a_short_synthetic_replay_writes_the_report_and_loses_no_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 06:00-08:00 would be quiet; hours count from midnight, so replay the first two.
    code = main(["demo", "--hours", "2", "--out", str(tmp_path), "--seed", "3"])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary) >= KEYS
    assert summary["busy_terminations"] == 0 and summary["failed_passes"] == 0
    assert summary["tasks_submitted"] > 0
    assert summary["tasks_completed"] > 0
    assert summary["tasks_completed"] <= summary["tasks_submitted"]
    # The fleet never beats the oracle, and the oracle never exceeds static provisioning.
    assert summary["oracle_instance_hours"] <= summary["instance_hours"]
    assert summary["oracle_instance_hours"] <= summary["static_peak_instance_hours"]
    assert summary["p50_wait_s"] <= summary["p95_wait_s"]
    for png in ("capacity.png", "zones.png", "utilisation.png", "waits.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "report.html").read_text()
    assert "shortfall:" in page and "capacity.png" in page
    out = capsys.readouterr()
    assert "report:" in out.out and "100%" in out.err


def test_compare_runs_each_policy_on_the_same_workload(tmp_path: Path) -> None:
    config = tmp_path / "demo.toml"
    config.write_text(
        "hours = 1\nseed = 5\n"
        '[[variants]]\nname = "lean"\nrules = { max_idle = 0 }\n'
        '[[variants]]\nname = "warm"\nrules = { min_idle = 2, max_idle = 3 }\n'
    )
    assert main(["demo", "--config", str(config), "--out", str(tmp_path), "--compare"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    runs = {r["policy"]: r for r in summary["runs"]}
    assert set(runs) == {"default", "lean", "warm"}  # the configured policy, then each variant
    assert runs["lean"]["tasks_submitted"] == runs["warm"]["tasks_submitted"]
    # Keeping idle instances warm costs more instance-hours than the lean policy.
    assert runs["warm"]["instance_hours"] > runs["lean"]["instance_hours"]
    assert (tmp_path / "compare.png").exists() and (tmp_path / "lean-capacity.png").exists()


def test_bad_demo_configs_are_refused_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'step_s = 45\ninterval_s = 60\n[[variants]]\nname = "x"\nrules = { max_idel = 1 }\n'
    )
    with pytest.raises(ConfigError) as info:
        load_demo_config(bad)
    text = str(info.value)
    assert "not a multiple of step_s" in text or "max_idel" in text
    assert main(["demo", "--config", str(bad), "--out", str(tmp_path)]) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"submit_s,duration_s,cpus,mem\n", "holds no task"),
        (b"submit_s,duration_s,cpus,mem\n1e308,10,1,100\n", "submit_s 1e+308 out of range"),
        (b"submit_s,duration_s,cpus,mem\n1,1e308,1,100\n", "duration_s 1e+308 out of range"),
        (b"submit_s,duration_s,cpus,mem\n1,10,1,100\xff\n", "not UTF-8 text"),
        (b"submit_s,duration_s,cpus,mem\n1,10,1000,100\n", "fits no pool's instance"),
    ],
)
def test_bad_traces_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: bytes, message: str
) -> None:
    trace = tmp_path / "t.csv"
    trace.write_bytes(body)
    assert main(["demo", "--trace", str(trace), "--hours", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_a_task_that_never_started_fails_the_run_and_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "late.csv"
    # Two whole-instance tasks a minute before the replay ends: the idle agent (one is kept:
    # max_idle 1) takes one, no instance can boot for the other in time.
    trace.write_text(
        "submit_s,duration_s,cpus,mem\n10,600,1,1024\n3550,600,8,1024\n3550,600,8,1024\n"
    )
    config = tmp_path / "demo.toml"
    config.write_text("[rules]\nmax_idle = 1\n")
    out = tmp_path / "out"
    args = ["demo", "--config", str(config), "--trace", str(trace), "--hours", "1"]
    code = main([*args, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "1 tasks never started (t000002)" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tasks_never_started"] == 1
    assert summary["max_pending_s"] >= 1  # counted as at least its pending time
    assert set(summary["pools"]) == {"general"}
    assert summary["pools"]["general"]["cost_usd"] == summary["cost_usd"]


def test_a_run_that_never_launched_anything_still_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "later.csv"
    trace.write_text("submit_s,duration_s,cpus,mem\n7200,600,1,1024\n")  # after the replay
    out = tmp_path / "out"
    assert main(["demo", "--trace", str(trace), "--hours", "0.5", "--out", str(out)]) == 0
    assert (out / "report.html").exists()
    assert json.loads((out / "summary.json").read_text())["tasks_submitted"] == 0


def test_the_gpu_workload_adds_a_gpu_pool_and_refuses_a_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from controlplane.cli.demo import with_gpu_pool  # noqa: PLC0415

    config = with_gpu_pool(load_demo_config(None))
    assert [(p.name, p.gpu) for p in config.pools] == [("general", False), ("gpu", True)]
    assert with_gpu_pool(config) == config
    trace = tmp_path / "t.csv"
    trace.write_text("submit_s,duration_s,cpus,mem\n1,10,1,100\n")
    assert main(["demo", "--workload", "gpu", "--trace", str(trace), "--out", str(tmp_path)]) == 2
    assert "not both" in capsys.readouterr().err


def test_a_cordoned_agent_held_by_a_restartable_task_gives_it_up_and_leaves(
    tmp_path: Path,
) -> None:
    """Real pymesos on the emulator: agent A runs a long 5-cpu task and a short 3-cpu one;
    a long 1-cpu task submitted while A is full opens agent B. Once the short task ends,
    B's task fits on A: B is cordoned, and with relocation its task is killed and run
    again on A after the deadline, so B leaves (never with a task on it)."""
    trace = tmp_path / "t.csv"
    trace.write_text(
        "submit_s,duration_s,cpus,mem\n10,10000,5,1024\n10,600,3,1024\n400,10000,1,1024\n"
    )
    config = tmp_path / "demo.toml"
    config.write_text(
        "hours = 1.5\n[rules]\nmax_idle = 0\nidle_grace_s = 300\n"
        '[[variants]]\nname = "relocate"\n'
        "rules = { max_idle = 0, idle_grace_s = 300, relocate_after_s = 600 }\n"
    )
    args = ["demo", "--config", str(config), "--trace", str(trace), "--compare"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    runs = {r["policy"]: r for r in json.loads((tmp_path / "summary.json").read_text())["runs"]}
    before, after = runs["default"], runs["relocate"]
    assert before["agents_cordoned"] == after["agents_cordoned"] == 1
    assert (before["tasks_relocated"], after["tasks_relocated"]) == (0, 1)
    assert after["instance_hours"] < before["instance_hours"] - 0.3  # B leaves ~an hour early
    for run in (before, after):
        assert run["busy_terminations"] == 0 and run["tasks_never_started"] == 0
        assert run["tasks_started"] == 3


def test_a_spot_run_relocates_our_tasks_before_each_reclaim_and_costs_less(
    tmp_path: Path,
) -> None:
    """The spot variant: Spot-only groups, warnings through the interruption queue (SQS on
    moto), reclaims two minutes later. Our tasks are relaunched on each warning, so none is
    on an instance when AWS takes it, and nothing is a busy termination of ours. Seed 5
    warns an instance still booting (its agent registers a minute before the reclaim):
    what once lost that instance's four tasks in some runs."""
    trace = tmp_path / "t.csv"
    rows = "".join(f"{60 * i},5400,2,2048\n" for i in range(12))
    trace.write_text("submit_s,duration_s,cpus,mem\n" + rows)
    config = tmp_path / "demo.toml"
    config.write_text(
        "hours = 2\ninterruptions_per_hour = 1.0\nseed = 5\n"
        '[[variants]]\nname = "spot"\nspot = true\n'
    )
    args = ["demo", "--config", str(config), "--trace", str(trace), "--compare"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    runs = {r["policy"]: r for r in json.loads((tmp_path / "summary.json").read_text())["runs"]}
    spot, on_demand = runs["spot"], runs["default"]
    assert (spot["spot"], on_demand["spot"]) == (True, False)
    assert spot["spot_interruptions"] >= 1 and on_demand["spot_interruptions"] == 0
    assert spot["tasks_lost_to_reclaims"] == 0  # relocated on the warning, not lost
    assert spot["tasks_relocated"] >= 1
    assert spot["cost_usd"] < on_demand["cost_usd"]
    for run in (spot, on_demand):
        assert run["busy_terminations"] == 0 and run["tasks_never_started"] == 0
