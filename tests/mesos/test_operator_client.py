"""The operator client against the emulator: views, 307 to the leader, 503 retries,
metrics, and clear errors for malformed replies."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from controlplane.mesos.operator_client import OperatorClient
from controlplane.mesos.replies import MalformedReplyError, MesosError
from controlplane.sim.mesos_master import MasterCore, MesosMasterEmulator
from tests.mesos.conftest import add_agents


def test_agents_carry_resources_attributes_and_state(emulator: MesosMasterEmulator) -> None:
    client = OperatorClient(emulator.address)
    agents = client.agents()
    assert len(agents) == 3
    first = agents[0]
    assert first.total == {"cpus": 4.0, "mem": 8192.0, "disk": 10000.0}
    assert first.used == {}
    assert first.attributes["zone"] == "us-east-1a"
    assert first.attributes["instance_id"] == "i-0000"
    assert (first.active, first.drain_state, first.tasks) == (True, None, ())
    client.deactivate_agent(first.id)
    assert client.state()[0][0].active is False
    client.reactivate_agent(first.id)
    assert client.agents()[0].active is True


def test_follows_307_to_the_leader_and_remembers_it() -> None:
    core = MasterCore()
    add_agents(core, 2)
    with MesosMasterEmulator(core) as leader, MesosMasterEmulator(core, leader=False) as standby:
        standby.become_standby(leader.address)
        registry = CollectorRegistry()
        client = OperatorClient(standby.address, registry=registry)
        assert len(client.agents()) == 2
        assert client.master == leader.address
        assert [a.id for a in client.agents_only()] == sorted(core.agents)
        for call in ("GET_STATE", "GET_AGENTS"):
            ok = registry.get_sample_value(
                "controlplane_mesos_operator_calls_total", {"call": call, "outcome": "ok"}
            )
            timed = registry.get_sample_value(
                "controlplane_mesos_operator_call_seconds_count", {"call": call}
            )
            assert (ok, timed) == (1.0, 1.0)


def test_retries_503_until_a_leader_is_elected() -> None:
    core = MasterCore()
    add_agents(core, 1)
    with MesosMasterEmulator(core, leader=False) as master:
        master.become_standby(None)  # no leader: 503
        elected = threading.Timer(0.3, master.become_leader)
        elected.start()
        client = OperatorClient(master.address, attempts=10, max_backoff_s=0.2)
        assert len(client.agents()) == 1
        elected.join()


def test_gives_up_after_bounded_attempts_with_a_clear_error() -> None:
    registry = CollectorRegistry()
    with MesosMasterEmulator(MasterCore(), leader=False) as master:
        master.become_standby(None)
        client = OperatorClient(master.address, attempts=3, max_backoff_s=0.01, registry=registry)
        with pytest.raises(MesosError, match=r"gave up after 3 attempts.*503"):
            client.agents()
    failed = registry.get_sample_value(
        "controlplane_mesos_operator_calls_total", {"call": "GET_STATE", "outcome": "error"}
    )
    assert failed == 1.0


def test_connection_refused_moves_to_the_next_seed(emulator: MesosMasterEmulator) -> None:
    with MesosMasterEmulator(MasterCore()) as gone:
        dead = gone.address  # its port is free again after the block
    client = OperatorClient([dead, emulator.address], attempts=3, max_backoff_s=0.01)
    assert len(client.agents()) == 3
    assert client.master == emulator.address


class _Canned(BaseHTTPRequestHandler):
    reply = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.reply)))
        self.end_headers()
        self.wfile.write(self.reply)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def canned() -> Iterator[tuple[str, type[_Canned]]]:
    handler = type("Handler", (_Canned,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()
    thread.join()


AGENT = {
    "agent_info": {"hostname": "h", "id": {"value": "S1"}, "attributes": []},
    "active": True,
    "total_resources": [],
    "allocated_resources": [],
    "offered_resources": [],
}


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"{oops", "GET_STATE reply is not JSON"),
        (json.dumps({"type": "GET_AGENTS"}).encode(), "expected GET_STATE"),
        (json.dumps({"type": "GET_STATE", "get_state": {}}).encode(), "get_tasks: missing"),
        (
            json.dumps(
                {
                    "type": "GET_STATE",
                    "get_state": {
                        "get_tasks": {},
                        "get_agents": {"agents": [{**AGENT, "agent_info": {"hostname": "h"}}]},
                    },
                }
            ).encode(),
            "get_state.get_agents.agents[0].agent_info.id: missing",
        ),
        (
            json.dumps(
                {
                    "type": "GET_STATE",
                    "get_state": {
                        "get_tasks": {},
                        "get_agents": {
                            "agents": [
                                {
                                    **AGENT,
                                    "total_resources": [
                                        {"name": "cpus", "type": "SCALAR", "scalar": {"value": "4"}}
                                    ],
                                }
                            ]
                        },
                    },
                }
            ).encode(),
            "agents[0].total_resources[0].scalar.value: expected a finite number",
        ),
    ],
)
def test_malformed_replies_name_the_problem(
    canned: tuple[str, type[_Canned]], reply: bytes, message: str
) -> None:
    address, handler = canned
    handler.reply = reply
    with pytest.raises(MalformedReplyError) as err:
        OperatorClient(address, attempts=1).state()
    assert message in str(err.value)
