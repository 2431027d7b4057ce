"""`controlplane mesos-emulator`: agent specs, and the command serving real requests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.errors import InputError
from controlplane.mesos.operator_client import OperatorClient
from controlplane.sim.mesos_master.agents_spec import parse_agents_spec


def test_count_spreads_default_agents_over_three_zones() -> None:
    groups = parse_agents_spec("4")
    assert [g.attributes["zone"] for g in groups] == [
        "us-east-1a",
        "us-east-1b",
        "us-east-1c",
        "us-east-1a",
    ]
    assert groups[0].resources == {"cpus": 4.0, "mem": 16384.0, "disk": 100000.0}


def test_json_file_sets_resources_and_attributes(tmp_path: Path) -> None:
    path = tmp_path / "agents.json"
    path.write_text(
        json.dumps(
            {
                "agents": [
                    {
                        "count": 2,
                        "hostname": "gpu",
                        "resources": {"cpus": 8, "gpus": 1},
                        "attributes": {"zone": "us-east-1b", "pool": "gpu"},
                    }
                ]
            }
        )
    )
    (group,) = parse_agents_spec(str(path))
    assert (group.count, group.resources["gpus"], group.attributes["pool"]) == (2, 1.0, "gpu")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ('[{"count": -1}]', "agents[0].count"),
        ('[{"resources": {"cpus": -2}}]', "must be >= 0"),
        ("99999999", "at most"),
        ("missing.json", "not a count, JSON, or a readable file"),
    ],
)
def test_bad_specs_are_one_line_errors(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_agents_spec(spec)
    assert main(["mesos-emulator", "--agents", spec]) == 2


def test_command_serves_until_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlplane", "mesos-emulator", "--port", "0", "--agents", "3"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        address = line.split()[2]
        agents = OperatorClient(address).agents()
        assert sorted(a.attributes["zone"] for a in agents) == [
            "us-east-1a",
            "us-east-1b",
            "us-east-1c",
        ]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
