"""Demand validation: whole batches or nothing, clear errors, and the HTTP faces."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from controlplane.demand import DemandError
from controlplane.demand.http_source import HttpDemandSource
from controlplane.demand.queue import TaskQueue
from controlplane.demand.server import DemandServer, SubmissionRules
from controlplane.demand.submission import parse_submission_json, parse_submissions
from tests.support.api_client import TOKEN, StaticTokens, call

GOOD = {"id": "a", "job": "j", "resources": {"cpus": 1, "mem": 64}, "labels": {"duration_s": "5"}}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"tasks": [GOOD, {**GOOD, "id": "b", "resources": {"cpus": -1}}]},
            "tasks[1].resources: resource 'cpus' must be >= 0, got -1",
        ),
        ({"tasks": [{**GOOD, "colour": "red"}]}, "tasks[0].colour: unknown field"),
        ({"tasks": [GOOD, GOOD]}, "tasks[1]: duplicate task id 'a'"),
        ({"task": [GOOD]}, "task: unknown field"),
        ({"tasks": [{**GOOD, "resources": {"cpus": "1"}}]}, "tasks[0].resources.cpus"),
        ({"tasks": [{**GOOD, "labels": {"duration_s": 5}}]}, "tasks[0].labels.duration_s"),
        ({"tasks": [{**GOOD, "expected_duration_s": 0}]}, "tasks[0].expected_duration_s"),
        ({"tasks": [{**GOOD, "expected_duration_s": 1e12}]}, "tasks[0].expected_duration_s"),
        ("nope", "expected a list of tasks"),
    ],
)
def test_malformed_batches_are_refused_whole(data: Any, message: str) -> None:
    with pytest.raises(DemandError) as err:
        parse_submissions(data)
    assert message in str(err.value)


def test_duplicate_json_keys_are_refused() -> None:
    with pytest.raises(DemandError, match="duplicate key 'id'"):
        parse_submission_json('{"tasks": [{"id": "a", "id": "b", "resources": {}}]}')


def test_queue_is_all_or_nothing_and_tracks_states() -> None:
    queue = TaskQueue()
    woken: list[int] = []
    queue.on_new_work(lambda: woken.append(1))
    queue.submit(parse_submissions([GOOD]))
    with pytest.raises(DemandError, match="'a' is already queued"):
        queue.submit(parse_submissions([{**GOOD, "id": "c"}, GOOD]))
    assert [t.id for t in queue.pending()] == ["a"]  # "c" was not half-applied
    assert queue.pending()[0].model_dump(exclude_none=True) == {
        "id": "a",
        "job": "j",
        "resources": {"cpus": 1.0, "mem": 64.0},
        "constraints": [],
    }
    queue.launching({"a": "S1"})
    assert (queue.pending(), queue.live()) == ([], {"a": "S1"})
    queue.update("a", "TASK_FINISHED")
    assert queue.counts() == {"finished": 1}
    queue.submit(parse_submissions([GOOD]))  # an ended id may be submitted again
    assert woken == [1, 1]


def test_finished_tasks_teach_their_jobs_duration() -> None:
    queue = TaskQueue()
    queue.submit(parse_submissions([GOOD, {**GOOD, "id": "b"}, {**GOOD, "id": "c"}]))
    queue.launching({"a": "S1", "b": "S1", "c": "S1"})
    queue.update("a", "TASK_RUNNING", at=1000.0)
    queue.update("a", "TASK_RUNNING", at=1005.0)  # a repeated status keeps the first start
    queue.update("a", "TASK_FINISHED", at=1100.0)
    queue.update("b", "TASK_FINISHED", at=1100.0)  # never seen running: no duration
    queue.update("c", "TASK_RUNNING", at=1000.0)
    queue.update("c", "TASK_FAILED", at=1010.0)  # failed: not how long the job runs
    assert queue.take_finished() == [("j", 100.0)]
    assert queue.take_finished() == []


@pytest.fixture
def server() -> Iterator[DemandServer]:
    rules = SubmissionRules(commands={"noop": ["true"]}, default_command="noop")
    with DemandServer(TaskQueue(), tokens=StaticTokens(), rules=rules) as srv:
        yield srv


def request(
    url: str, method: str, body: bytes | None = None, content_type: str = "application/json"
) -> tuple[int, Any]:
    status, data, _ = call(url, method, body, headers={"Content-Type": content_type})
    return status, data


def test_post_tasks_endpoint(server: DemandServer) -> None:
    body = json.dumps({"tasks": [GOOD]}).encode()
    assert request(server.url, "POST", body) == (201, {"accepted": ["a"]})
    status, err = request(server.url, "POST", body)
    assert status == 409 and "already queued" in err["error"]
    status, err = request(server.url, "POST", b'{"tasks": [{"id": "x"}]}')
    assert status == 400 and err["error"].startswith("POST /v1/tasks: tasks[0].resources")
    assert request(server.url, "POST", body, "text/plain")[0] == 415
    status, listing = request(server.url, "GET")
    assert status == 200 and [t["id"] for t in listing["pending"]] == ["a"]
    assert listing["counts"] == {"queued": 1}


def test_http_source_reads_another_queue(server: DemandServer) -> None:
    server.queue.submit(parse_submissions([GOOD, {**GOOD, "id": "b"}]))
    tasks = HttpDemandSource(server.url, token=TOKEN).pending()
    assert [t.id for t in tasks] == ["a", "b"]


class _Answer(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2", "invalid JSON"),
        (b'{"tasks": []}', "pending: missing required field"),
        (
            b'{"pending": [{"id": "a", "resources": {}}, {"id": "b"}]}',
            "pending[1].resources: missing required field",
        ),
        (
            b'{"pending": [{"id": "a", "resources": {}}, {"id": "a", "resources": {}}]}',
            "duplicate task id 'a'",
        ),
    ],
)
def test_http_source_refuses_malformed_answers(body: bytes, message: str) -> None:
    handler = type("H", (_Answer,), {"body": body})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with pytest.raises(DemandError) as err:
            HttpDemandSource(f"http://127.0.0.1:{srv.server_address[1]}/p").pending()
        assert message in str(err.value)
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


def test_http_source_unreachable() -> None:
    with DemandServer(TaskQueue(), tokens=StaticTokens()) as srv:
        url = srv.url
    with pytest.raises(DemandError, match="cannot read pending tasks"):
        HttpDemandSource(url, timeout_s=2).pending()
