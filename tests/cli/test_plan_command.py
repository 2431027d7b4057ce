"""`controlplane plan`: exit codes, stdout only on success, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given

from controlplane.cli import main
from controlplane.formats.plan_text import plan_json
from controlplane.model import Plan, Snapshot
from controlplane.planning import plan
from tests.support.contract_replay import PROPERTY, VARIED

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "snapshot.json"


def test_plan_example_prints_contract_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    Plan.model_validate(data)
    assert data["version"] == 1
    assert {"placements", "unplaced", "scale_up", "scale_down", "summary"} <= set(data)
    for placement in data["placements"]:
        assert ("agent" in placement) != ("new" in placement)
    assert data["unplaced"][0]["reason"].startswith("needs 500000 mem")


def test_plan_table_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(EXAMPLE), "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert "SCALE UP" in out and "SCALE DOWN" in out and "UNPLACED" in out
    assert out.startswith("placed ")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"version": 1, "now": "2026-11-23T12:00:00Z", "pools": [], "oops": 1}', "oops"),
        ('{"version": 1, "pools": []}', "now: missing required field"),
        (
            '{"version": 1, "now": "2026-11-23T12:00:00Z", "now": "2026-11-24T12:00:00Z", '
            '"pools": []}',
            "invalid JSON: duplicate key 'now'",
        ),
        ('{"version": 1, "now": "2026-11-23T12:00:00Z", "pools": NaN}', "NaN is not a JSON"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "snap.json"
    path.write_text(content)
    assert main(["plan", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert message in lines[0]
    assert lines[0].startswith("controlplane: error: ")


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(tmp_path / "absent.json")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "cannot read" in captured.err


def test_console_script_reads_stdin_and_is_deterministic() -> None:
    text = EXAMPLE.read_text()
    cmd = [sys.executable, "-m", "controlplane", "plan", "-"]
    first = subprocess.run(cmd, input=text, capture_output=True, text=True, check=True)
    second = subprocess.run(cmd, input=text, capture_output=True, text=True, check=True)
    assert first.stdout == second.stdout
    assert first.stderr == ""


def test_the_console_script_writes_a_large_plan_whole_before_it_exits(tmp_path: Path) -> None:
    """The script skips the interpreter's teardown after `plan`: the output must be flushed
    first, every byte of it, through a pipe."""
    from bench.scenarios import fenzo  # noqa: PLC0415 (the benchmark's snapshot builder)

    snap = fenzo(agents=300, tasks=3000)
    path = tmp_path / "big.json"
    path.write_text(snap.model_dump_json())
    cmd = [sys.executable, "-m", "controlplane", "plan", str(path)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # block-buffered
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    assert proc.stdout == plan_json(plan(snap))
    assert len(proc.stdout) > 200_000  # several pipe buffers


def test_console_script_bad_input_exit_code() -> None:
    cmd = [sys.executable, "-m", "controlplane", "plan", "-"]
    proc = subprocess.run(cmd, input="[]", capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1


def test_a_plan_that_cannot_be_written_is_one_line_and_exit_1() -> None:
    """A full disk or closed pipe is not bad input (exit 2) and never a traceback."""
    cmd = [sys.executable, "-m", "controlplane", "plan", str(EXAMPLE)]
    with open("/dev/full", "w") as full:
        proc = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("controlplane: error: cannot write the plan")
    assert proc.stderr.count("\n") == 1


def test_a_5000_digit_number_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"version": ' + "9" * 5000 + "}")
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "invalid JSON" in err


@PROPERTY
@given(VARIED)
def test_plan_json_is_the_text_json_dumps_gave(snapshot: Snapshot) -> None:
    """The fast writer (placements from the models, orjson) keeps the plan's text exactly
    what `json.dumps(indent=2, ensure_ascii=False)` of the model dump was."""
    result = plan(snapshot)
    data = result.model_dump(mode="json")
    data["placements"] = [{k: v for k, v in p.items() if v is not None} for p in data["placements"]]
    for key in ("cordon", "uncordon"):
        if not data[key]:
            del data[key]
    assert plan_json(result) == json.dumps(data, indent=2, ensure_ascii=False) + "\n"
