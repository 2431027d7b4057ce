"""The scheduled-scaling Lambda against moto and the Mesos emulator, over real HTTP.

EventBridge never fires in moto: the handler is invoked directly with the events
EventBridge and EventBridge Scheduler really deliver.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from controlplane.config import ConfigError, Settings, load_settings
from controlplane.demand.queue import TaskQueue
from controlplane.demand.server import DemandServer
from controlplane.sim.clock import VirtualClock, utc
from controlplane.sim.world import SimWorld
from controlplane.state.records import ScheduledFloor
from lambdas.scheduled_scaling.events import EventError
from lambdas.scheduled_scaling.handler import apply
from tests.control.conftest import ListDemand, Loop, settings_for
from tests.sim.conftest import run_task
from tests.support.api_client import StaticTokens, shared_token_file

# Tuesday 2026-11-24 07:00 UTC = 08:00 in Berlin: the business-hours window opens.
OPEN = 1795503600.0
BUSINESS = {
    "name": "business-hours",
    "pool": "batch",
    "min_instances": 5,
    "timezone": "Europe/Berlin",
    "days": ["mon", "tue", "wed", "thu", "fri"],
    "start": "08:00",
    "end": "20:00",
}


def rule_event(when: datetime, rule: str = "cp-business-hours-start") -> dict[str, Any]:
    """An EventBridge rule's scheduled event, as delivered."""
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{rule}"],
        "detail": {},
    }


@pytest.fixture
def demand() -> Iterator[DemandServer]:
    with DemandServer(TaskQueue(), tokens=StaticTokens()) as server:
        yield server


def lambda_settings(world: SimWorld, demand: DemandServer, **schedule: Any) -> Settings:
    return settings_for(
        world,
        demand={"source": "http", "url": demand.url, "url_token_file": str(shared_token_file())},
        schedule={"profiles": [BUSINESS], **schedule},
    )


def test_profiles_come_from_the_environment_as_terraform_sets_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTROLPLANE_CLUSTER", "prod")
    monkeypatch.setenv("CONTROLPLANE_SCHEDULE__PROFILES", json.dumps([BUSINESS]))
    monkeypatch.setenv("CONTROLPLANE_SCHEDULE__RUN_PASS", "false")
    settings = load_settings(None)
    assert settings.schedule.profiles[0].min_instances == 5
    assert settings.schedule.run_pass is False
    monkeypatch.setenv(
        "CONTROLPLANE_SCHEDULE__PROFILES", json.dumps([{**BUSINESS, "end": "25:00"}])
    )
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert any("schedule.profiles[0].end" in p and "25:00" in p for p in info.value.problems)


def now_of(clock: VirtualClock) -> datetime:
    return utc(clock.now())


def test_window_opening_raises_the_floor_and_one_pass_grows_the_pool_balanced(
    world: SimWorld, clock: VirtualClock, demand: DemandServer
) -> None:
    clock.advance(OPEN - clock.now())
    settings = lambda_settings(world, demand)
    loop = Loop(world, clock, ListDemand())  # creates the table; never renews here
    out = apply(
        rule_event(now_of(clock)),
        settings=settings,
        clock=lambda: now_of(clock),
        session=world.session,
        request_id="req-1",
    )
    assert out["trigger"] == {"source": "aws.events", "name": "cp-business-hours-start", "lag_s": 0}
    floor = out["floors"]["batch"]
    assert floor["instances"] == 5 and floor["written"] is True
    assert floor["until"] == "2026-11-24T19:00:00Z"
    assert out["pass"]["ran"] is True and out["pass"]["scale_up"] == 5
    assert sorted(loop.desired().values()) == [1, 2, 2]
    # The lease was released: a daemon takes over at once.
    assert loop.parts.store.acquire("daemon", now_of(clock), 60) is not None


def test_a_daemon_holding_the_lease_applies_the_floor_and_the_lambda_does_not_fight_it(
    world: SimWorld, clock: VirtualClock, demand: DemandServer
) -> None:
    clock.advance(OPEN - clock.now())
    loop = Loop(world, clock, ListDemand())
    loop.step()  # the daemon leads; nothing pending, nothing to do
    assert sum(loop.desired().values()) == 0
    out = apply(
        rule_event(now_of(clock)),
        settings=lambda_settings(world, demand),
        clock=lambda: now_of(clock),
        session=world.session,
    )
    assert out["pass"] == {"ran": False, "why": "cp-1 holds the lease and applies the floor"}
    assert sum(loop.desired().values()) == 0
    result = loop.step(1)
    assert result.plan is not None
    assert result.plan.scale_up[0].reason.startswith(
        "scheduled floor 5 (profile business-hours (mon,tue,wed,thu,fri 08:00-20:00 "
        "Europe/Berlin), until 2026-11-24T19:00:00Z)"
    )
    assert sum(loop.desired().values()) == 5


def test_window_end_lowers_the_floor_and_idle_agents_drain_but_busy_ones_stay(
    world: SimWorld, clock: VirtualClock, demand: DemandServer
) -> None:
    clock.advance(OPEN - clock.now())
    loop = Loop(world, clock, ListDemand())
    settings = lambda_settings(world, demand)

    def invoke() -> dict[str, Any]:
        return apply(
            rule_event(now_of(clock)),
            settings=settings,
            clock=lambda: now_of(clock),
            session=world.session,
        )

    invoke()
    world.bridge.sync()  # the bridge sees the new instances launch
    loop.step(30)  # they boot and register as agents
    assert len(world.bridge.agents()) == 5
    # One long task keeps one agent busy past the window.
    instance, agent = sorted(world.bridge.agents().items())[0]
    run_task(world.core, agent, "long")
    clock.advance(12 * 3600)  # 19:00 UTC = 20:00 Berlin: the window closes
    out = invoke()
    assert out["floors"]["batch"] == {
        "instances": None,
        "source": None,
        "until": None,
        "written": True,
    }
    for _ in range(6):  # deactivate, settle, terminate: two-phase drains over passes
        loop.step(120)
    assert world.invariant_violations() == []
    assert sum(loop.desired().values()) == 1
    assert world.bridge.agents() == {instance: agent}


def test_a_late_retry_never_overwrites_a_newer_decision(
    world: SimWorld, clock: VirtualClock, demand: DemandServer
) -> None:
    clock.advance(OPEN - clock.now())
    loop = Loop(world, clock, ListDemand())
    store = loop.parts.store
    newer = now_of(clock)
    floor = ScheduledFloor(instances=3, source="profile x", until=newer, set_at=newer)
    assert store.set_floor("batch", floor, newer) is True
    older = newer - timedelta(seconds=60)
    stale = ScheduledFloor(instances=9, source="profile y", until=older, set_at=older)
    assert store.set_floor("batch", stale, older) is False
    assert store.set_floor("batch", None, older) is False
    assert store.load().floors["batch"].instances == 3


def test_cron_profile_and_scheduler_input_and_run_pass_off(
    world: SimWorld, clock: VirtualClock, demand: DemandServer
) -> None:
    clock.advance(OPEN - clock.now())
    Loop(world, clock, ListDemand())
    nightly = {
        "name": "nightly",
        "pool": "batch",
        "min_instances": 2,
        "timezone": "UTC",
        "cron": "0 7 * * *",
        "duration_s": 3600,
    }
    settings = settings_for(world, schedule={"profiles": [nightly], "run_pass": False})
    out = apply(
        {"source": "controlplane.schedule", "profile": "nightly", "edge": "start"},
        settings=settings,
        clock=lambda: now_of(clock),
        session=world.session,
    )
    assert out["trigger"]["name"] == "nightly:start"
    assert out["floors"]["batch"]["instances"] == 2
    assert out["floors"]["batch"]["until"] == "2026-11-24T08:00:00Z"
    assert out["pass"] == {"ran": False, "why": "schedule.run_pass is false"}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "expected a JSON object"),
        ({"source": "aws.ec2"}, "is not aws.events"),
        ({"source": "aws.events", "detail-type": "EC2 Instance State-change"}, "detail-type"),
        ({**rule_event(datetime(2026, 1, 1)), "time": "yesterday"}, "not RFC 3339"),
        ({"source": "controlplane.schedule", "edge": "middle"}, "edge 'middle'"),
        ({"source": "controlplane.schedule", "profil": "x"}, "unknown field 'profil'"),
    ],
)
def test_events_it_does_not_understand_are_refused_before_anything_is_done(
    event: Any, message: str
) -> None:
    settings = Settings.model_validate(
        {"cluster": "c", "aws": {"endpoint_url": "http://127.0.0.1:9"}}
    )
    with pytest.raises(EventError, match=message):
        apply(event, settings=settings)
