"""Malformed or misdirected calls get the real master's status codes, in its order."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from controlplane.mesos.recordio import Decoder
from controlplane.sim.mesos_master import MasterCore, MesosMasterEmulator
from tests.support.mesos_calls import wait_for


def post(
    address: str,
    body: Any,
    *,
    path: str = "/api/v1/scheduler",
    method: str = "POST",
    content_type: str | None = "application/json",
    stream_id: str | None = None,
) -> tuple[int, str, dict[str, str]]:
    host, port = address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {} if content_type is None else {"Content-Type": content_type}
    if stream_id:
        headers["Mesos-Stream-Id"] = stream_id
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def subscribe(address: str) -> tuple[http.client.HTTPResponse, str, str]:
    """A raw SUBSCRIBE; returns the open stream, the framework id and the stream id."""
    host, port = address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    # A failover timeout keeps the framework known (not subscribed) after it disconnects.
    info = {"user": "u", "name": "n", "failover_timeout": 60.0}
    call = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
    conn.request(
        "POST",
        "/api/v1/scheduler",
        body=json.dumps(call).encode(),
        headers={"Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Transfer-Encoding") == "chunked"
    stream_id = resp.getheader("Mesos-Stream-Id")
    assert stream_id
    decoder = Decoder()
    records: list[bytes] = []
    while not records:
        records = decoder.feed(resp.read1(4096))
    event = json.loads(records[0])
    assert event["type"] == "SUBSCRIBED"
    assert event["subscribed"]["heartbeat_interval_seconds"] == 15.0
    assert event["subscribed"]["master_info"]["port"] == int(port)
    return resp, event["subscribed"]["framework_id"]["value"], stream_id


@pytest.fixture
def master() -> Any:
    with MesosMasterEmulator(MasterCore()) as emu:
        yield emu


def test_version_parses_as_pymesos_reads_it(master: MesosMasterEmulator) -> None:
    host, port = master.address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", "/version")
    version = json.loads(conn.getresponse().read())["version"]
    assert tuple(int(n) for n in version.split(".")) == (1, 11, 0)


@pytest.mark.parametrize(
    ("kwargs", "status", "text"),
    [
        ({"method": "PUT"}, 405, "Expecting one of { 'POST' }"),
        ({"content_type": None}, 400, "Expecting 'Content-Type' to be present"),
        ({"content_type": "text/plain"}, 415, "Expecting 'Content-Type'"),
        ({"content_type": "application/x-protobuf"}, 415, "application/json only"),
        ({"body": b"{not json"}, 400, "Failed to parse body into JSON"),
        ({"body": {"type": "NOPE"}}, 400, "unknown 'type'"),
        ({"body": {"type": "DECLINE"}}, 400, "Expecting 'framework_id' to be present"),
        ({"body": {"type": "SUBSCRIBE"}}, 400, "framework_info"),
        (
            {
                "body": {
                    "type": "DECLINE",
                    "framework_id": {"value": "x"},
                    "decline": {"offer_ids": "O1"},
                }
            },
            400,
            "'decline.offer_ids' is not an array",
        ),
        (
            {
                "body": {
                    "type": "SUBSCRIBE",
                    "subscribe": {
                        "framework_info": {"user": "u", "name": "n", "failover_timeout": "soon"}
                    },
                }
            },
            400,
            "'subscribe.framework_info.failover_timeout' is not a number",
        ),
        (
            {
                "body": {
                    "type": "DRAIN_AGENT",
                    "drain_agent": {"agent_id": {"value": "S"}, "mark_gone": "yes"},
                },
                "path": "/api/v1",
            },
            400,
            "'drain_agent.mark_gone' is not a boolean",
        ),
    ],
)
def test_malformed_scheduler_calls(
    master: MesosMasterEmulator, kwargs: dict[str, Any], status: int, text: str
) -> None:
    body = kwargs.pop("body", {"type": "REVIVE", "framework_id": {"value": "x"}})
    got, message, _ = post(master.address, body, **kwargs)
    assert (got, text in message) == (status, True), message


def test_framework_and_stream_checks(master: MesosMasterEmulator) -> None:
    revive = {"type": "REVIVE", "framework_id": {"value": "nobody"}}
    status, message, _ = post(master.address, revive)
    assert (status, "cannot be found" in message) == (400, True)

    stream, framework_id, stream_id = subscribe(master.address)
    revive["framework_id"] = {"value": framework_id}
    assert post(master.address, revive)[0] == 400  # missing Mesos-Stream-Id
    assert post(master.address, revive, stream_id="stale")[0] == 400
    assert post(master.address, revive, stream_id=stream_id)[0] == 202
    decline = {"type": "DECLINE", "framework_id": {"value": framework_id}}
    assert post(master.address, decline, stream_id=stream_id)[0] == 400  # no 'decline'
    bad_ack = {
        "type": "ACKNOWLEDGE",
        "framework_id": {"value": framework_id},
        "acknowledge": {
            "agent_id": {"value": "a"},
            "task_id": {"value": "t"},
            "uuid": "not-a-uuid",
        },
    }
    assert post(master.address, bad_ack, stream_id=stream_id)[0] == 400
    resubscribe = {
        "type": "SUBSCRIBE",
        "framework_id": {"value": framework_id},
        "subscribe": {"framework_info": {"user": "u", "name": "n"}},
    }
    status, message, _ = post(master.address, resubscribe, stream_id=stream_id)
    assert (status, "not to be present" in message) == (400, True)

    stream.close()  # the scheduler goes away: its framework is no longer subscribed
    fw = master.core.frameworks[framework_id]
    wait_for(lambda: fw.stream is None, what="the master to notice the closed stream")
    status, message, _ = post(master.address, revive, stream_id=stream_id)
    assert (status, message) == (403, "Framework is not subscribed")


def test_standby_redirects_and_no_leader_is_503(master: MesosMasterEmulator) -> None:
    with MesosMasterEmulator(master.core, leader=False) as standby:
        standby.become_standby(master.address)
        for path in ("/api/v1/scheduler", "/api/v1", "/master/api/v1"):
            status, _, headers = post(standby.address, {"type": "GET_AGENTS"}, path=path)
            assert status == 307
            assert headers["location"] == f"//{master.address}{path}"
        standby.become_standby(None)
        assert post(standby.address, {"type": "GET_AGENTS"}, path="/api/v1")[0] == 503


def test_operator_errors(master: MesosMasterEmulator) -> None:
    drain = {"type": "DRAIN_AGENT", "drain_agent": {"agent_id": {"value": "nope"}}}
    status, message, _ = post(master.address, drain, path="/api/v1")
    assert (status, "not found" in message) == (400, True)
    assert post(master.address, {"type": "DRAIN_AGENT"}, path="/api/v1")[0] == 400
    assert post(master.address, {"type": "GET_AGENTS"}, path="/api/v1", method="GET")[0] == 405
    status, body, _ = post(master.address, {"type": "GET_AGENTS"}, path="/master/api/v1")
    assert status == 200 and json.loads(body)["get_agents"]["agents"] == []


def test_legacy_master_state_is_flat(master: MesosMasterEmulator) -> None:
    agent_id = master.core.add_agent(
        hostname="h1", resources={"cpus": 2.0, "mem": 512.0}, attributes={"zone": "z1"}
    )
    master.core.drain_agent(agent_id, 10.0, False)
    host, port = master.address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", "/master/state")
    state = json.loads(conn.getresponse().read())
    conn.close()
    (slave,) = state["slaves"]
    assert slave["attributes"] == {"zone": "z1"}
    assert slave["resources"] == {"cpus": 2.0, "mem": 512.0}
    assert (slave["used_resources"], slave["offered_resources"]) == ({}, {})
    assert (slave["active"], slave["drain_info"]["state"]) == (False, "DRAINED")
    assert state["leader"] == f"master@{master.address}"


def test_emulator_stops_itself_after_its_lifetime() -> None:
    emu = MesosMasterEmulator(MasterCore(), lifetime_s=0.2).start()
    address = emu.address
    wait_for(lambda: not emu.running, what="the emulator to stop itself")
    with pytest.raises(OSError):
        post(address, {"type": "GET_AGENTS"}, path="/api/v1")
