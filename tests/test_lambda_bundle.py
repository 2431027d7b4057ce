"""The Lambda bundle: self-contained for the python3.12 runtime, without pymesos, reproducible."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tools import build_lambda


def _python312() -> str | None:
    """A CPython 3.12 that runs (a pyenv shim may exist and still refuse)."""
    found = sorted(Path("/root/.pyenv/versions").glob("3.12.*/bin/python3.12"))
    for candidate in [*map(str, found), shutil.which("python3.12")]:
        if candidate is None:
            continue
        probe = subprocess.run([candidate, "-V"], capture_output=True, check=False)
        if probe.returncode == 0:
            return candidate
    return None


PY312 = _python312()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lambda") / "scheduled_scaling.zip"
    build_lambda.build(out)
    return out


def test_the_bundle_holds_the_handler_and_runtime_dependencies_but_no_framework(
    bundle: Path,
) -> None:
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        infos = archive.infolist()
    tops = {n.split("/", 1)[0] for n in names}
    assert "lambdas/scheduled_scaling/handler.py" in names
    assert "controlplane/planning/planner.py" in names
    assert {"numpy", "pydantic_core", "boto3", "apscheduler", "tzdata"} <= tops
    for absent in ("pymesos", "http_parser", "moto", "mypy_boto3_autoscaling", "pytest"):
        assert absent not in tops, absent
    assert not any(n.startswith("controlplane/sim/") for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert names == sorted(names, key=lambda n: n.split("/"))
    assert {i.date_time for i in infos} == {build_lambda.FIXED_TIME}
    assert any(n.startswith("numpy/_core/_multiarray_umath.cpython-312-x86_64") for n in names)
    assert bundle.stat().st_size < 50_000_000  # the direct-upload limit of Lambda


def test_a_second_build_gives_the_same_bytes(bundle: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    build_lambda.build(again)
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert hashlib.sha256(again.read_bytes()).hexdigest() == digest


@pytest.mark.skipif(PY312 is None, reason="no CPython 3.12 here to stand in for the runtime")
def test_the_handler_imports_and_refuses_a_bad_event_with_only_the_bundle(
    bundle: Path, tmp_path: Path
) -> None:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tmp_path / "task")
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path / 'task')!r})\n"
        "from lambdas.scheduled_scaling.handler import EventError, handler\n"
        "try:\n"
        "    handler({'source': 'aws.ec2'}, None)\n"
        "except EventError as error:\n"
        "    print('refused', error)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pymesos', 'moto')))\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "CONTROLPLANE_CLUSTER": "prod"}
    # -I -S: no user site, no site-packages: the bundle alone must carry every import.
    done = subprocess.run(
        [str(PY312), "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "refused event: source 'aws.ec2' is not aws.events or controlplane.schedule "
        "(or {} by hand)",
        "[]",
    ]
