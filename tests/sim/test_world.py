"""SimWorld comes up and goes down cleanly, on errors too, and leaves the environment alone."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from pydantic import ValidationError

from controlplane.aws.pool_rules import AdapterSettings
from controlplane.sim.clock import RealClock, VirtualClock
from controlplane.sim.fleet import agent_id_for
from controlplane.sim.world import SimWorld, WorldSpec
from tests.sim.conftest import observe_aws, set_desired, spec


def _settled(baseline: set[threading.Thread], timeout: float = 3.0) -> set[str]:
    """Names of threads started since `baseline` that are still alive after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        extra = {t.name for t in threading.enumerate() if t not in baseline}
        if not extra or time.monotonic() > deadline:
            return extra
        time.sleep(0.02)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _ports(world: SimWorld) -> list[int]:
    return [int(world.moto_url.rsplit(":", 1)[1]), int(world.mesos_address.rsplit(":", 1)[1])]


def test_up_and_down_with_a_real_time_bridge_thread() -> None:
    baseline = set(threading.enumerate())
    environ = dict(os.environ)
    with SimWorld(spec(boot_delay_s=0.0, bridge_interval_s=0.05)) as world:
        assert isinstance(world.clock, RealClock) and world.core.clock is world.clock
        ports = _ports(world)
        assert not any(_free(p) for p in ports)
        assert "fleet-bridge" in {t.name for t in threading.enumerate()}
        (iid,) = set_desired(world, world.asg_name("web", "us-east-1c"), 1)
        deadline = time.monotonic() + 10
        while agent_id_for(iid) not in world.core.agents and time.monotonic() < deadline:
            time.sleep(0.02)
        assert agent_id_for(iid) in world.core.agents
        assert world.env()["AWS_ENDPOINT_URL"] == world.moto_url
        assert world.region == "us-east-1" and len(world.asg_names) == 6
    assert dict(os.environ) == environ
    assert _settled(baseline) == set()
    assert all(_free(p) for p in ports)


def test_an_error_inside_the_world_still_takes_it_down(clock: VirtualClock) -> None:
    baseline = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="boom"), SimWorld(spec(), clock=clock) as world:
        world.bridge.start(0.05)
        ports = _ports(world)
        raise RuntimeError("boom")
    assert _settled(baseline) == set()
    assert all(_free(p) for p in ports)


def test_a_failure_while_coming_up_stops_what_was_started(
    monkeypatch: pytest.MonkeyPatch, clock: VirtualClock
) -> None:
    baseline = set(threading.enumerate())

    def fail(_self: SimWorld) -> None:
        raise RuntimeError("cannot build")

    monkeypatch.setattr(SimWorld, "_build", fail)
    world = SimWorld(spec(), clock=clock)
    with pytest.raises(RuntimeError, match="cannot build"), world:
        pass
    assert _settled(baseline) == set()
    assert not world.emulator.running


def test_a_second_world_starts_from_a_clean_moto(clock: VirtualClock) -> None:
    with SimWorld(spec(), clock=clock) as first:
        set_desired(first, first.asg_name("batch", "us-east-1a"), 2)
    with SimWorld(spec(), clock=clock) as second:
        reply = second.autoscaling.describe_auto_scaling_groups()
        assert sorted(g["AutoScalingGroupName"] for g in reply["AutoScalingGroups"]) == list(
            second.asg_names
        )
        assert all(not g["Instances"] for g in reply["AutoScalingGroups"])


def test_groups_may_launch_instances_protected_as_terraform_does(clock: VirtualClock) -> None:
    for protect in (False, True):
        with SimWorld(spec(protect_new_instances=protect), clock=clock) as world:
            asg = world.asg_name("batch", "us-east-1a")
            set_desired(world, asg, 2)
            observed = observe_aws(world).groups[asg].instances
            assert len(observed) == 2 and all(i.protected == protect for i in observed)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"pools": ({"name": "a", "instance_type": "m5.large", "desired": 3, "max": 2},)},
            "desired",
        ),
        ({"pools": ({"name": "a", "instance_type": "m5.large"},) * 2}, "repeat"),
        ({"settings": AdapterSettings(cluster="other")}, "settings.cluster"),
        ({"pools": ({"name": "a", "instance_type": "m5.large", "zones": ["eu-west-1a"]},)}, "not"),
        ({"zones": ("us-east-1a", "us-east-1a")}, "zones repeat"),
    ],
)
def test_a_bad_spec_is_refused_before_anything_starts(
    changes: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        spec(**changes)


def test_a_spec_reads_from_json() -> None:
    text = '{"cluster": "demo", "pools": [{"name": "batch", "instance_type": "m5.large"}]}'
    parsed = WorldSpec.model_validate_json(text)
    assert parsed.adapter_settings().cluster == "demo"
    assert parsed.pools[0].zones is None and parsed.boot_delay_s == 30.0
