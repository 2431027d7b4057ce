"""The ops surface: /metrics and /healthz over HTTP, JSON logs, and the pass metrics."""

from __future__ import annotations

import io
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from controlplane.aws.actions import ActionResult
from controlplane.aws.calls import AwsMetrics
from controlplane.aws.replies import ObservedGroup, ObservedInstance
from controlplane.mesos.operator_client import OperatorMetrics
from controlplane.ops.health import Health
from controlplane.ops.http import OpsServer
from controlplane.ops.logs import configure_logging
from controlplane.ops.metrics import CATEGORIES, ControlMetrics, unplaced_category
from controlplane.planning import plan
from tests.support.builders import agent, pool, snapshot, task


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_and_health_over_http() -> None:
    registry = CollectorRegistry()
    metrics = ControlMetrics(registry)
    metrics.set_leader(True)
    state = {"ok": True}

    def health() -> Health:
        if state.get("boom"):
            raise RuntimeError("store unreachable")
        return Health(ok=state["ok"], public={"leader": True}, private={"host": "secret-host"})

    with OpsServer(registry, health) as server:
        base = f"http://{server.address}"
        status, text = _get(f"{base}/metrics")
        assert status == 200
        names = {f.name for f in text_string_to_metric_families(text)}
        assert {"controlplane_leader", "controlplane_pending_tasks"} <= names
        assert _get(f"{base}/healthz") == (200, json.dumps({"status": "ok", "leader": True}))
        state["ok"] = False
        status, text = _get(f"{base}/healthz")
        assert status == 503 and json.loads(text)["status"] == "unhealthy"
        state["boom"] = True
        status, text = _get(f"{base}/healthz")
        assert status == 503 and "store unreachable" not in text  # internals stay in the log
        assert "secret-host" not in text
        assert _get(f"{base}/nope")[0] == 404
        post = urllib.request.Request(f"{base}/metrics", data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(post, timeout=5)
        assert info.value.code == 405
    server.stop()  # twice is fine
    assert not [t for t in threading.enumerate() if t.name == "ops-http"]


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_logs(root_logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    configure_logging("INFO", stream=stream)  # idempotent: one handler
    log = logging.getLogger("t")
    log.info("hello %s", "world", extra={"pool": "batch", "odd": object()})
    try:
        raise ValueError("bad")
    except ValueError:
        log.exception("failed")
    log.debug("hidden")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["msg"] == "hello world" and first["pool"] == "batch" and first["level"] == "INFO"
    assert first["ts"].endswith("Z") and len(first["ts"]) == len("2026-11-24T12:00:00.000Z")
    assert first["odd"].startswith("<object object")
    assert "ValueError: bad" in second["exc"]


def test_all_call_metrics_share_one_registry() -> None:
    registry = CollectorRegistry()
    AwsMetrics(registry)
    OperatorMetrics(registry)
    ControlMetrics(registry)  # no duplicate names


def _group(name: str, zone: str, states: list[str]) -> ObservedGroup:
    insts = tuple(
        ObservedInstance(f"i-{name}-{n}", zone, s, False, True) for n, s in enumerate(states)
    )
    return ObservedGroup(name, "batch", zone, 0, 10, len(states), {}, None, ("m5.xlarge",), insts)


def test_pass_metrics_and_no_stale_series() -> None:
    registry = CollectorRegistry()
    metrics = ControlMetrics(registry, clock=lambda: 1234.5)
    snap = snapshot(
        [pool(), pool("web", zones=("us-east-1a",))],
        [
            agent("A-1", used={"cpus": 4}, jobs={"j": 1}),
            agent("A-2"),
            agent("A-3", pool_name="web"),
        ],
        [task("t1", cpus=2), task("t2", cpus=64)],
    )
    result = plan(snap)
    actions = [
        ActionResult("scale_up", "batch-a", "done", "x"),
        ActionResult("scale_down", "batch-a", "skipped", "y", "i-1"),
    ]
    metrics.observe_pass(
        snap, result, actions, pool_of={"batch-a": "batch"}, drains_in_progress=2, duration_s=0.02
    )
    metrics.observe_groups(
        {
            "batch-a": _group("batch-a", "us-east-1a", ["InService", "Pending"]),
            "web-a": _group("web-a", "us-east-1a", ["InService"]),
        }
    )
    s = _samples(registry)
    assert s[("controlplane_pending_tasks", ())] == 2
    assert s[("controlplane_placements", (("target", "agent"),))] == 1
    assert s[("controlplane_unplaced_tasks", (("reason", "too_large"),))] == 1
    assert (
        s[("controlplane_agents", (("pool", "batch"), ("state", "active"), ("zone", "us-east-1a")))]
        == 2
    )
    assert (
        s[
            (
                "controlplane_group_in_service",
                (("asg", "batch-a"), ("pool", "batch"), ("zone", "us-east-1a")),
            )
        ]
        == 1
    )
    assert (
        s[
            (
                "controlplane_group_desired",
                (("asg", "batch-a"), ("pool", "batch"), ("zone", "us-east-1a")),
            )
        ]
        == 2
    )
    assert (
        s[
            (
                "controlplane_scale_actions_total",
                (("kind", "scale_up"), ("outcome", "done"), ("pool", "batch")),
            )
        ]
        == 1
    )
    assert s[("controlplane_drains_in_progress", ())] == 2
    assert s[("controlplane_last_pass_timestamp_seconds", ())] == 1234.5
    assert s[("controlplane_passes_total", (("outcome", "ok"), ("stage", "done")))] == 1

    # Next pass: the web pool and its group are gone, so are their series.
    snap2 = snapshot([pool()], [agent("A-1")], [])
    metrics.observe_pass(snap2, plan(snap2), [], pool_of={}, drains_in_progress=0, duration_s=0.01)
    metrics.observe_groups({"batch-a": _group("batch-a", "us-east-1a", ["InService"])})
    labels = {
        dict(k[1]).get("pool") for k in _samples(registry) if k[0].startswith("controlplane_")
    }
    assert "web" not in labels


@pytest.mark.parametrize(
    ("pools", "agents", "pending", "category"),
    [
        ([pool()], [], [task("t", cpus=500)], "too_large"),
        ([pool(max_size=0)], [], [task("t")], "at_max"),
        (
            [pool(zones=("us-east-1a",), max_size=1, desired=(1,))],
            [agent("A-1")],
            [
                task("t", job="j", constraints=[{"kind": "unique_host"}]),
                task("u", job="j", constraints=[{"kind": "unique_host"}]),
            ],
            "at_max",  # the growth blocker wins: raising max is what would help
        ),
        (
            [pool()],
            [agent("A-1")],
            [task("t", constraints=[{"kind": "attribute", "name": "rack", "value": "r9"}])],
            "attribute",
        ),
    ],
)
def test_real_planner_reasons_get_their_category(
    pools: list[dict[str, object]],
    agents: list[dict[str, object]],
    pending: list[dict[str, object]],
    category: str,
) -> None:
    result = plan(snapshot(pools, agents, pending))
    assert result.unplaced, result
    got = {unplaced_category(u.reason) for u in result.unplaced}
    assert category in got, [u.reason for u in result.unplaced]
    assert got <= set(CATEGORIES)


def test_categories_are_bounded_and_sum_to_the_unplaced_count() -> None:
    reasons = [
        "pool batch: scale-up cooldown until 2026-11-24T12:00:00Z",
        "none of 3 active agents in its pools may take 1 cpus; us-east-1a unavailable until x",
        "none of 3 active agents in its pools may take 1 cpus; exclusive: needs an agent",
        "pool gpu: balanced zone for job j needs the least-used value, which cannot grow",
        "a reason nobody wrote yet",
    ]
    assert [unplaced_category(r) for r in reasons] == [
        "cooldown",
        "zone_unavailable",
        "exclusive",
        "balanced",
        "other",
    ]
    registry = CollectorRegistry()
    snap = snapshot([pool(max_size=1)], [], [task(f"t{i}", cpus=16) for i in range(5)])
    result = plan(snap)
    ControlMetrics(registry).observe_pass(
        snap, result, [], pool_of={}, drains_in_progress=0, duration_s=0.0
    )
    unplaced = {
        k: v for k, v in _samples(registry).items() if k[0] == "controlplane_unplaced_tasks"
    }
    assert sum(unplaced.values()) == len(result.unplaced) > 0
    assert {dict(k[1])["reason"] for k in unplaced} == set(CATEGORIES)
