"""The operator event stream: the emulator serves SUBSCRIBE as the master does, and the
watch's picture is what GET_STATE says, after any changes; every kind of gap makes it
stale (never used) until a new SUBSCRIBED rebuilds it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.mesos.event_stream import ClusterPicture, ClusterWatch, StreamGapError, wait_fresh
from controlplane.mesos.operator_client import OperatorClient
from controlplane.mesos.recordio import Decoder, encode
from controlplane.mesos.replies import AgentView
from controlplane.mesos.watched import WatchedOperator
from controlplane.sim.mesos_master import MasterCore, MesosMasterEmulator
from controlplane.sim.mesos_master.state import SimTask
from tests.mesos.conftest import add_agents


def _comparable(views: list[AgentView]) -> list[AgentView]:
    """Offers come and go with no event: everything else must agree (sums to the 9th
    decimal: the master and the picture add the same tasks in different orders)."""
    return [replace(v, offered={}, used={k: round(x, 9) for k, x in v.used.items()}) for v in views]


def _wait(check: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def _agrees(watch: ClusterWatch, client: OperatorClient) -> bool:
    views = watch.picture.views()
    return views is not None and _comparable(views) == _comparable(client.agents())


def _launch(core: MasterCore, agent_id: str, task_id: str, cpus: float = 1.0) -> None:
    with core.lock:
        labels = {"job": "j"}
        task = SimTask(task_id, task_id, "fw", agent_id, {"cpus": cpus}, labels, core.now(), None)
        core.launch(core.agents[agent_id], task)


@pytest.fixture
def watched(emulator: MesosMasterEmulator) -> Iterator[tuple[ClusterWatch, OperatorClient]]:
    client = OperatorClient(emulator.address, attempts=2)
    watch = ClusterWatch(client, retry_s=0.05).start()
    assert wait_fresh(watch, 10)
    yield watch, client
    watch.stop()


def test_the_stream_opens_with_the_state_then_carries_every_change(
    emulator: MesosMasterEmulator, watched: tuple[ClusterWatch, OperatorClient]
) -> None:
    watch, client = watched
    core = emulator.core
    assert _agrees(watch, client)
    first = sorted(core.agents)[0]
    _launch(core, first, "t1")
    _launch(core, first, "t2", cpus=2.0)
    (added,) = add_agents(core, 1)[-1:]
    _launch(core, added, "t3")
    _wait(lambda: _agrees(watch, client), "launches and a new agent")
    views = {v.id: v for v in watch.picture.views() or []}
    assert [t.id for t in views[first].tasks] == ["t1", "t2"]
    assert views[first].used == {"cpus": 3.0}
    with core.lock:
        core.end_task(core.find_task("fw", "t1"), "TASK_FINISHED", None, "done")  # type: ignore[arg-type]
    core.remove_agent(added)
    _wait(lambda: _agrees(watch, client), "an end and a removal")
    assert watch.picture.events >= 5
    assert watch.gaps == ["start"]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(["launch", "end", "add", "remove"]), max_size=12))
def test_after_any_changes_the_picture_is_what_get_state_says(
    emulator: MesosMasterEmulator,
    watched: tuple[ClusterWatch, OperatorClient],
    changes: list[str],
) -> None:
    watch, client = watched
    core = emulator.core
    for n, change in enumerate(changes):
        with core.lock:
            agents = sorted(core.agents)
            live = [t for a in core.agents.values() for t in a.tasks.values()]
        if change == "launch" and agents:
            _launch(core, agents[n % len(agents)], f"h{time.monotonic_ns()}", cpus=0.1)
        elif change == "end" and live:
            with core.lock:
                core.end_task(live[0], "TASK_KILLED", None, "killed")
        elif change == "add":
            add_agents(core, 1)
        elif change == "remove" and len(agents) > 1:
            core.remove_agent(agents[-1])
    _wait(lambda: _agrees(watch, client), "the picture to catch up")
    assert watch.gaps == ["start"]


def test_the_master_closing_the_stream_is_a_gap_and_a_new_subscription_heals_it(
    emulator: MesosMasterEmulator, watched: tuple[ClusterWatch, OperatorClient]
) -> None:
    watch, client = watched
    emulator.become_standby(None)  # the stream closes; no leader for a moment
    _wait(lambda: not watch.picture.fresh, "the picture to go stale")
    assert watch.picture.views() is None
    _launch(emulator.core, sorted(emulator.core.agents)[0], "while-away")
    emulator.become_leader()
    _wait(lambda: _agrees(watch, client), "a new SUBSCRIBED")
    assert len(watch.gaps) >= 2
    views = watch.picture.views() or []
    assert any(t.id == "while-away" for v in views for t in v.tasks)  # not lost in the gap


class _Canned(BaseHTTPRequestHandler):
    """A master that answers SUBSCRIBE with given records, then holds the line."""

    records: ClassVar[list[bytes]] = []
    hold_s = 5.0
    subscriptions = 0

    def do_POST(self) -> None:
        type(self).subscriptions += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for record in self.records:
            framed = record if record.startswith(b"RAW:") is False else record[4:]
            data = encode(framed) if not record.startswith(b"RAW:") else framed
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        time.sleep(self.hold_s)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _state(**extra: Any) -> bytes:
    subscribed = {"get_state": {"get_tasks": {}, "get_agents": {"agents": []}}, **extra}
    return json.dumps({"type": "SUBSCRIBED", "subscribed": subscribed}).encode()


@pytest.fixture
def canned() -> Iterator[type[_Canned]]:
    handler = type("Handler", (_Canned,), {"records": [], "subscriptions": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    handler.address = f"127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("records", "gap"),
    [
        # Silence: no byte for three heartbeat intervals.
        ([_state(heartbeat_interval_seconds=0.1)], "timed out"),
        ([_state(heartbeat_interval_seconds=0.1), b"{not json"], "not JSON"),
        ([_state(heartbeat_interval_seconds=0.1), b'{"type": "AGENT_UPDATED"}'], "unknown"),
        (
            [
                _state(heartbeat_interval_seconds=0.1),
                json.dumps(
                    {
                        "type": "TASK_UPDATED",
                        "task_updated": {
                            "framework_id": {"value": "fw"},
                            "state": "TASK_RUNNING",
                            "status": {"task_id": {"value": "t"}, "agent_id": {"value": "S9"}},
                        },
                    }
                ).encode(),
            ],
            "unknown agent",
        ),
        ([_state(heartbeat_interval_seconds=0.1), b"RAW:xx\n"], "length prefix"),
        ([b'{"type": "HEARTBEAT"}', b'{"type": "TASK_ADDED", "task_added": {}}'], "SUBSCRIBED"),
    ],
)
def test_every_kind_of_gap_makes_the_picture_stale_and_resubscribes(
    canned: type[_Canned], records: list[bytes], gap: str
) -> None:
    canned.records = records
    canned.hold_s = 2.0
    watch = ClusterWatch(OperatorClient(canned.address, attempts=1), retry_s=0.05).start()  # type: ignore[attr-defined]
    try:
        _wait(lambda: len(watch.gaps) >= 2, "a gap")
        assert gap in watch.gaps[1], watch.gaps
        _wait(lambda: canned.subscriptions >= 2, "a new subscription")
        if not watch.picture.fresh:
            assert watch.picture.views() is None
    finally:
        watch.stop()


def test_a_stale_picture_is_never_used_and_refreshes_read_get_state(
    emulator: MesosMasterEmulator,
) -> None:
    client = OperatorClient(emulator.address, attempts=2)
    watch = ClusterWatch(client, retry_s=0.05)  # not started: never fresh
    operator = WatchedOperator(client, watch, refresh_passes=3)
    assert _comparable(operator.agents()) == _comparable(client.agents())
    assert operator.source == "GET_STATE"
    watch.start()
    try:
        assert wait_fresh(watch, 10)
        sources = []
        for _ in range(6):
            operator.agents()
            sources.append(operator.source)
            wait_fresh(watch, 10)
        assert sources.count("GET_STATE") == 2  # every third pass refreshes
        agent = sorted(emulator.core.agents)[0]
        operator.deactivate_agent(agent)  # no event says so: the picture is told
        views = {v.id: v for v in watch.picture.views() or []}
        assert views[agent].active is False
    finally:
        watch.stop()


def test_a_picture_refuses_what_it_cannot_apply() -> None:
    picture = ClusterPicture()
    with pytest.raises(StreamGapError, match="before SUBSCRIBED"):
        picture.apply({"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": "S1"}}})
    picture.reset({"get_state": {"get_tasks": {}, "get_agents": {}}})
    with pytest.raises(StreamGapError, match="unknown event type"):
        picture.apply({"type": "SOMETHING_NEW"})
    with pytest.raises(StreamGapError, match="never added"):
        picture.reset(
            {
                "get_state": {
                    "get_tasks": {},
                    "get_agents": {
                        "agents": [{"agent_info": {"hostname": "h", "id": {"value": "S1"}}}]
                    },
                }
            }
        )
        picture.apply(
            {
                "type": "TASK_UPDATED",
                "task_updated": {
                    "state": "TASK_RUNNING",
                    "status": {"task_id": {"value": "t"}, "agent_id": {"value": "S1"}},
                },
            }
        )
    decoder = Decoder()
    assert decoder.feed(encode(b'{"type":"HEARTBEAT"}')) == [b'{"type":"HEARTBEAT"}']
