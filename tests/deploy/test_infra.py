"""infra/: the user-data templates render, parse as bash and do their job; the units are sane.

Templates are rendered the way `templatefile` does for plain `${name}` placeholders (`$${`
is a literal `${`); the agent's script then runs against a fake IMDSv2 on loopback.
"""

from __future__ import annotations

import configparser
import http.server
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from controlplane.config import load_settings
from tests.deploy.hcl import INFRA, MODULES, resources

AGENT = INFRA / "agent"
DAEMON = INFRA / "daemon"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ESCAPED = "\0ESCAPED\0"


def render(template: Path, values: Mapping[str, str]) -> str:
    text = template.read_text(encoding="utf-8")
    assert "%{" not in text, f"{template.name}: directives are not supported here"
    text = text.replace("$${", _ESCAPED)
    names = set(_PLACEHOLDER.findall(text))
    assert names == set(values), f"{template.name}: placeholders {sorted(names)}"
    text = _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
    assert "${" not in text, f"{template.name}: an expression is left unrendered"
    return text.replace(_ESCAPED, "${")


def _templatefile_keys(module: str, template: str) -> set[str]:
    """The names the module passes to templatefile() for `template`."""
    (lt,) = resources(MODULES / module, "aws_launch_template").values()
    user_data = lt["user_data"]
    assert template in user_data
    arguments = user_data.split(template, 1)[1]
    return set(re.findall(r"[{,]\s*([a-z_]+)\s*=", arguments))


AGENT_UNIT = (AGENT / "mesos-agent.service").read_text(encoding="utf-8")
DAEMON_UNIT = (DAEMON / "controlplane.service").read_text(encoding="utf-8")
AGENT_VALUES = {
    "cluster": "prod-mesos",
    "pool": "batch",
    "mesos_master": "zk://10.0.0.10:2181/mesos",
    "work_dir": "/var/lib/mesos",
    "extra_attributes": ";tier:batch",
    "agent_unit": AGENT_UNIT,
}
DAEMON_TOML = "\n".join(
    [
        'cluster = "prod-mesos"',
        "[mesos]",
        'masters = ["10.0.0.10:5050"]',
        "[aws]",
        'region = "eu-central-1"',
        'state_table = "controlplane-state"',
        "[ops]",
        'host = "0.0.0.0"',
        "[ops.access]",
        'tokens_secret = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:cp-tokens"',
    ]
)
DAEMON_VALUES = {
    "config_toml": DAEMON_TOML,
    "service_unit": DAEMON_UNIT,
    "package_spec": "controlplane[framework]",
    "pip_args": "--find-links /opt/wheels",
    "python_bin": "python3.11",
    "log_group": "/controlplane/prod-mesos/daemon",
    "log_path": "/var/log/controlplane/daemon.log",
}


def test_templates_take_what_the_modules_pass() -> None:
    assert _templatefile_keys("agent_pool", "user-data.sh.tftpl") == set(AGENT_VALUES)
    assert _templatefile_keys("control_plane", "user-data.sh.tftpl") == set(DAEMON_VALUES)


@pytest.mark.parametrize(
    ("template", "values"),
    [(AGENT / "user-data.sh.tftpl", AGENT_VALUES), (DAEMON / "user-data.sh.tftpl", DAEMON_VALUES)],
    ids=["agent", "daemon"],
)
def test_rendered_user_data_is_bash(
    template: Path, values: Mapping[str, str], tmp_path: Path
) -> None:
    script = tmp_path / "user-data.sh"
    script.write_text(render(template, values), encoding="utf-8")
    assert script.read_text(encoding="utf-8").startswith("#!/bin/bash\n")
    done = subprocess.run(["bash", "-n", str(script)], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _unit(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


def test_agent_unit_runs_mesos_agent_from_the_written_environment() -> None:
    unit = _unit(AGENT_UNIT)
    assert {"Unit", "Service", "Install"} <= set(unit.sections())
    assert unit["Service"]["ExecStart"] == "/usr/sbin/mesos-agent"
    assert unit["Service"]["EnvironmentFile"] == "/etc/mesos-agent/env"
    assert unit["Service"]["Restart"] == "always"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_daemon_unit_runs_the_daemon_hardened_and_stops_gracefully() -> None:
    unit = _unit(DAEMON_UNIT)
    assert {"Unit", "Service", "Install"} <= set(unit.sections())
    service = unit["Service"]
    assert service["ExecStart"] == (
        "/opt/controlplane/bin/controlplane run --config /etc/controlplane/controlplane.toml"
    )
    assert service["Restart"] == "always"
    assert service["KillSignal"] == "SIGTERM"
    # A pass is abandoned and the lease released well within this.
    assert int(service["TimeoutStopSec"]) >= 60
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["User"] == "controlplane"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


# ---- running the scripts --------------------------------------------------------------------

TOKEN = "fake-imds-token"
METADATA = {
    "instance-id": "i-0123456789abcdef0",
    "placement/availability-zone": "eu-central-1b",
    "tags/instance/aws:autoscaling:groupName": "prod-mesos-batch-eu-central-1b",
    "local-ipv4": "10.0.1.23",
    "instance-life-cycle": "spot",
}


class _FakeImds(http.server.BaseHTTPRequestHandler):
    """IMDSv2: PUT /latest/api/token with a TTL header, then GETs with the token."""

    def do_PUT(self) -> None:
        if self.path != "/latest/api/token" or not self.headers.get(
            "X-aws-ec2-metadata-token-ttl-seconds"
        ):
            self._reply(400, "")
            return
        self._reply(200, TOKEN)

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            self._reply(401, "")
            return
        key = self.path.removeprefix("/latest/meta-data/")
        if key not in METADATA:
            self._reply(404, "")
            return
        self._reply(200, METADATA[key])

    def _reply(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def imds() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeImds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _run(script: str, tmp_path: Path, extra_env: Mapping[str, str]) -> Path:
    path = tmp_path / "user-data.sh"
    path.write_text(script, encoding="utf-8")
    root = tmp_path / "root"
    root.mkdir()
    env = {"PATH": "/usr/bin:/bin", "USERDATA_ROOT": str(root), "USERDATA_DRY_RUN": "1"}
    done = subprocess.run(
        ["bash", str(path)],
        env={**env, **extra_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return root


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl")
def test_agent_user_data_advertises_its_instance_as_mesos_attributes(
    imds: str, tmp_path: Path
) -> None:
    root = _run(
        render(AGENT / "user-data.sh.tftpl", AGENT_VALUES), tmp_path, {"USERDATA_IMDS_URL": imds}
    )
    attributes = (root / "etc/mesos-agent/attributes").read_text(encoding="utf-8")
    assert attributes == (
        "pool:batch;zone:eu-central-1b;asg:prod-mesos-batch-eu-central-1b;"
        "instance_id:i-0123456789abcdef0;lifecycle:spot;tier:batch\n"
    )
    env = dict(
        line.split("=", 1)
        for line in (root / "etc/mesos-agent/env").read_text(encoding="utf-8").splitlines()
    )
    assert env["MESOS_MASTER"] == "zk://10.0.0.10:2181/mesos"
    assert env["MESOS_ATTRIBUTES"] == attributes.strip()
    assert env["MESOS_IP"] == "10.0.1.23"
    unit = (root / "etc/systemd/system/mesos-agent.service").read_text(encoding="utf-8")
    assert unit.rstrip("\n") == AGENT_UNIT.rstrip("\n")


def test_daemon_user_data_writes_a_valid_config_and_the_unit(tmp_path: Path) -> None:
    root = _run(render(DAEMON / "user-data.sh.tftpl", DAEMON_VALUES), tmp_path, {})
    config = root / "etc/controlplane/controlplane.toml"
    assert config.read_text(encoding="utf-8") == DAEMON_TOML + "\n"
    assert config.stat().st_mode & 0o007 == 0, "the config is the daemon's alone"
    settings = load_settings(config)
    assert settings.cluster == "prod-mesos"
    unit = (root / "etc/systemd/system/controlplane.service").read_text(encoding="utf-8")
    assert unit.rstrip("\n") == DAEMON_UNIT.rstrip("\n")
    agent = (root / "opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json").read_text(
        encoding="utf-8"
    )
    assert '"log_group_name": "/controlplane/prod-mesos/daemon"' in agent
