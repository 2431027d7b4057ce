"""A SimWorld on a virtual clock: two pools over three zones, rules with a tag override."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from controlplane.aws.calls import AwsCaller
from controlplane.aws.capacity import CapacityLedger
from controlplane.aws.observation import AwsObservation, AwsObserver
from controlplane.aws.pool_rules import AdapterSettings, PoolRules
from controlplane.sim.clock import VirtualClock, utc
from controlplane.sim.mesos_master import MasterCore
from controlplane.sim.mesos_master.state import SimTask
from controlplane.sim.world import PoolSpec, SimWorld, WorldSpec

CLUSTER = "sim"
BOOT_S = 30.0
SETTINGS = AdapterSettings(
    cluster=CLUSTER,
    default_rules=PoolRules(mem_reserve_mib=2048),
    pools={"web": PoolRules(mem_reserve_mib=512, disk_mib=20000)},
)
POOLS = (
    PoolSpec(name="batch", instance_type="m5.xlarge", attributes={"tier": "bulk"}),
    # The tag overrides the configured 512 MiB: the agent must follow the tag, as the
    # planner does.
    PoolSpec(
        name="web",
        instance_type="c5.large",
        max=5,
        tags={"controlplane:mem_reserve_mib": "256"},
    ),
)


def spec(**changes: object) -> WorldSpec:
    base: dict[str, object] = {
        "cluster": CLUSTER,
        "pools": POOLS,
        "settings": SETTINGS,
        "boot_delay_s": BOOT_S,
    }
    return WorldSpec.model_validate({**base, **changes})


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def world(clock: VirtualClock) -> Iterator[SimWorld]:
    with SimWorld(spec(), clock=clock) as sim:
        yield sim


def observe_aws(world: SimWorld) -> AwsObservation:
    """What the AWS adapter sees, with the world's own settings."""
    autoscaling, ec2 = world.make_clients()
    observer = AwsObserver(AwsCaller(), autoscaling, ec2, world.settings, random.Random(1))
    return observer.observe(CapacityLedger(), utc(world.clock.now()))


def set_desired(world: SimWorld, asg: str, desired: int) -> list[str]:
    """SetDesiredCapacity, then the group's instance ids."""
    world.autoscaling.set_desired_capacity(
        AutoScalingGroupName=asg, DesiredCapacity=desired, HonorCooldown=False
    )
    return instance_ids(world, asg)


def instance_ids(world: SimWorld, asg: str) -> list[str]:
    reply = world.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg])
    return sorted(i["InstanceId"] for i in reply["AutoScalingGroups"][0]["Instances"])


def run_task(core: MasterCore, agent_id: str, task_id: str) -> None:
    """A running task on the agent, placed straight into the master's state."""
    with core.lock:
        agent = core.agents[agent_id]
        task = SimTask(task_id, task_id, "fw-test", agent_id, {"cpus": 1.0}, {}, core.now(), None)
        core.launch(agent, task)
