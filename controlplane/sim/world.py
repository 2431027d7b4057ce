"""The embedded world: moto (EC2, Auto Scaling) and a Mesos master, joined by a FleetBridge.

`SimWorld(spec)` is a context manager that brings up, on 127.0.0.1 and free ports, a moto
server and a Mesos master emulator sharing one clock, builds the spec's pools in moto (a VPC,
one subnet per zone, a launch template per pool, one tagged group per pool and zone), and
lets a `FleetBridge` turn group instances into agents. End-to-end tests and the demo run the
real control plane against it over HTTP.

Credentials: moto needs some, and nothing here touches `os.environ`. Every client is built
from `SimWorld.session`, a boto3 session holding fake keys; `make_clients()` gives the
control plane clients from it, and `env()` the variables for a subprocess.

moto keeps its state in process-wide globals, whatever server serves it: the world resets
moto when it comes up and when it goes down, so run one world per process at a time.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

import boto3
from moto.server import ThreadedMotoServer
from pydantic import BaseModel, ConfigDict, Field, model_validator

from controlplane.aws.clients import make_clients
from controlplane.aws.pool_rules import (
    ATTRIBUTE_TAG_PREFIX,
    CLUSTER_TAG,
    POOL_TAG,
    AdapterSettings,
)
from controlplane.sim import moto_request_ids, moto_transactions
from controlplane.sim.clock import Clock, RealClock
from controlplane.sim.fleet import FleetBridge
from controlplane.sim.mesos_master import MasterCore, MesosMasterEmulator
from controlplane.sim.moto_process import MotoProcess

if TYPE_CHECKING:  # type stubs are a dev dependency, absent from the Lambda bundle
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ec2 import EC2Client


log = logging.getLogger(__name__)
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
#: Fake keys moto accepts; never real ones.
FAKE_KEY_ID = "testing"
FAKE_SECRET = "testing"


class PoolSpec(BaseModel):
    """One pool: an instance type, and one group per zone sized min/max/desired each."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    instance_type: str = Field(min_length=1)
    min: int = Field(default=0, ge=0)
    max: int = Field(default=10, ge=0)
    desired: int = Field(default=0, ge=0)
    #: Zones of this pool's groups (default: all the world's zones).
    zones: tuple[str, ...] | None = None
    #: Pool attributes, as `controlplane:attr:<name>` tags.
    attributes: dict[str, str] = Field(default_factory=dict)
    #: Further group tags, e.g. `controlplane:mem_reserve_mib` rule overrides.
    tags: dict[str, str] = Field(default_factory=dict)
    #: The groups buy Spot only (price-capacity-optimized, capacity rebalancing).
    spot: bool = False
    #: Instance types (with an optional WeightedCapacity each) of a MixedInstancesPolicy;
    #: empty: the group launches the template's `instance_type`. moto launches the template's
    #: type even then, counting the first override's weight per instance.
    overrides: tuple[tuple[str, int | None], ...] = ()
    #: The `controlplane:pool` tag when it differs from `name`: several specs with one
    #: family make one operators' pool holding groups of several instance types.
    family: str | None = None

    @model_validator(mode="after")
    def _sizes(self) -> Self:
        if not self.min <= self.desired <= self.max:
            raise ValueError(f"pool {self.name}: need min <= desired <= max")
        return self


class WorldSpec(BaseModel):
    """The whole world: where it is, its pools, and how agents follow instances."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: str = Field(default="sim", min_length=1)
    region: str = "us-east-1"
    zones: tuple[str, ...] = Field(default=ZONES, min_length=1, max_length=128)
    pools: tuple[PoolSpec, ...] = ()
    #: Pool rules of the control plane under test; the bridge sizes agents with them.
    settings: AdapterSettings | None = None
    boot_delay_s: float = Field(default=30.0, ge=0)
    gone_delay_s: float = Field(default=0.0, ge=0)
    #: Run the bridge on a thread every this many real seconds; None: call `bridge.sync()`.
    bridge_interval_s: float | None = Field(default=None, gt=0)
    allocation_interval_s: float = Field(default=1.0, gt=0)
    #: Completed tasks the master reports in GET_STATE (Mesos' flag of that name: 1000).
    max_completed_tasks: int = Field(default=1000, ge=0)
    image_id: str = "ami-12c6146b"
    #: False: agents are named by instance id, not DescribeInstances (a bench's huge worlds).
    ec2_hostnames: bool = True
    #: False: the master acts only when the caller calls `core.tick()` (a replay does).
    master_ticks: bool = True
    #: Seed of moto's ids (instances, requests), so a replay's tie-breaks repeat; None: random.
    seed: int | None = None
    #: Groups launch instances protected from scale-in (the Terraform module's default,
    #: `scale_in_protection`); False: the control plane protects busy ones itself.
    protect_new_instances: bool = False
    #: Serve moto from a child process (`moto_process.py`): its work then runs beside the
    #: control plane's instead of taking turns with it (a replay); False: a thread here.
    moto_process: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [p.name for p in self.pools]
        if len(set(names)) != len(names):
            raise ValueError(f"pool names repeat: {names}")
        if self.settings is not None and self.settings.cluster != self.cluster:
            raise ValueError(f"settings.cluster {self.settings.cluster!r} != {self.cluster!r}")
        if len(set(self.zones)) != len(self.zones):
            raise ValueError(f"zones repeat: {list(self.zones)}")
        for pool in self.pools:
            strangers = sorted(set(pool.zones or ()) - set(self.zones))
            if strangers:
                raise ValueError(f"pool {pool.name}: zones {strangers} are not world zones")
        return self

    def adapter_settings(self) -> AdapterSettings:
        return self.settings or AdapterSettings(cluster=self.cluster)


class SimWorld:
    """moto + Mesos master emulator + FleetBridge on loopback; see the module docstring."""

    def __init__(self, spec: WorldSpec, *, clock: Clock | None = None) -> None:
        self.spec = spec
        self.settings = spec.adapter_settings()
        self.clock: Clock = clock or RealClock()
        self.region = spec.region
        self.session = boto3.Session(
            region_name=spec.region,
            aws_access_key_id=FAKE_KEY_ID,
            aws_secret_access_key=FAKE_SECRET,
        )
        self.core = MasterCore(
            self.clock,
            allocation_interval_s=spec.allocation_interval_s,
            max_completed_tasks=spec.max_completed_tasks,
        )
        self.emulator = MesosMasterEmulator(self.core, ticks=spec.master_ticks)
        self.subnets: dict[str, str] = {}
        self.templates: dict[str, str] = {}
        self.groups: dict[tuple[str, str], str] = {}
        self._moto: ThreadedMotoServer | MotoProcess | None = None
        self._moto_url: str | None = None
        self._bridge: FleetBridge | None = None
        self._clients: list[Any] = []
        self._werkzeug_level: int | None = None

    # ---- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> SimWorld:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _start(self) -> None:
        werkzeug = logging.getLogger("werkzeug")  # moto's server logs every request at INFO
        if werkzeug.level == logging.NOTSET:
            self._werkzeug_level = werkzeug.level
            werkzeug.setLevel(logging.WARNING)
        moto_transactions.install()  # a table copied once per transaction, not per member
        moto_request_ids.install()  # ids of what moto creates follow the seed alone
        self._moto = (
            MotoProcess()
            if self.spec.moto_process
            else ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        )
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self._moto_url = f"http://{host}:{port}"
        self._reset_moto()
        self.autoscaling, self.ec2 = self.make_clients()
        self._seed_moto()
        self._build()
        self.emulator.start()
        bridge_as, bridge_ec2 = self.make_clients()
        self._bridge = FleetBridge(
            self.core,
            bridge_as,
            bridge_ec2,
            cluster=self.spec.cluster,
            rules=self.settings,
            clock=self.clock,
            boot_delay_s=self.spec.boot_delay_s,
            gone_delay_s=self.spec.gone_delay_s,
            ec2_hostnames=self.spec.ec2_hostnames,
        )
        if self.spec.bridge_interval_s is not None:
            self._bridge.start(self.spec.bridge_interval_s)

    def close(self) -> None:
        """Stop the bridge, the emulator and moto; each is stopped even if another fails."""
        try:
            if self._bridge is not None:
                self._bridge.stop()
        finally:
            try:
                self.emulator.stop()
            finally:
                self._stop_moto()

    def _stop_moto(self) -> None:
        try:
            if self._moto is not None and self._moto_url is not None:
                self._reset_moto()
        except OSError as error:
            log.warning("moto reset on close failed: %s", error)
        finally:
            for client in self._clients:  # a kept-alive connection holds a server thread
                client.close()
            self._clients.clear()
            moto, self._moto = self._moto, None
            if moto is not None:
                moto.stop()
                server = getattr(moto, "_server", None)  # stop() leaves the socket open
                if server is not None:
                    server.server_close()
            if self._werkzeug_level is not None:
                logging.getLogger("werkzeug").setLevel(self._werkzeug_level)
                self._werkzeug_level = None

    def _reset_moto(self) -> None:
        self._moto_api("reset")

    def _seed_moto(self) -> None:
        """Seed moto's ids once its backends exist: a reset backend is rebuilt (default VPC
        and all, drawing ids) on first use, in this process or at the next reset, so seeding
        before that use would seed a different sequence in the first world than in later ones."""
        if self.spec.seed is None:
            return
        self.ec2.describe_vpcs()
        self.autoscaling.describe_auto_scaling_groups(MaxRecords=1)
        self._moto_api(f"seed?a={int(self.spec.seed)}")

    def _moto_api(self, call: str) -> None:
        request = urllib.request.Request(f"{self.moto_url}/moto-api/{call}", method="POST")
        with urllib.request.urlopen(request, timeout=10) as reply:
            reply.read()

    # ---- building the pools -------------------------------------------------------------

    def _build(self) -> None:
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        # moto never gives back the address of a terminated instance, so a /24 runs dry
        # after ~250 launches: split the /16 between the zones instead.
        bits = max(1, (len(self.spec.zones) - 1).bit_length())
        for index, zone in enumerate(self.spec.zones):
            cidr = f"10.0.{index << (8 - bits)}.0/{16 + bits}"
            self.subnets[zone] = self.ec2.create_subnet(
                VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone
            )["Subnet"]["SubnetId"]
        for pool in self.spec.pools:
            data = {"ImageId": self.spec.image_id, "InstanceType": pool.instance_type}
            self.templates[pool.name] = self.ec2.create_launch_template(
                LaunchTemplateName=f"{self.spec.cluster}-{pool.name}",
                LaunchTemplateData=cast(Any, data),
            )["LaunchTemplate"]["LaunchTemplateId"]
            tags = {
                CLUSTER_TAG: self.spec.cluster,
                POOL_TAG: pool.family or pool.name,
                **{f"{ATTRIBUTE_TAG_PREFIX}{k}": v for k, v in pool.attributes.items()},
                **pool.tags,
            }
            for zone in pool.zones or self.spec.zones:
                name = f"{pool.name}-{zone}"
                template = {"LaunchTemplateId": self.templates[pool.name], "Version": "$Latest"}
                launch: dict[str, Any] = {"LaunchTemplate": template}
                if pool.overrides or pool.spot:
                    types = pool.overrides or ((pool.instance_type, None),)
                    launch = {"MixedInstancesPolicy": mixed_policy(template, types)}
                if pool.spot:
                    launch["MixedInstancesPolicy"]["InstancesDistribution"] = dict(SPOT_ONLY)
                    launch["CapacityRebalance"] = True
                self.autoscaling.create_auto_scaling_group(
                    AutoScalingGroupName=name,
                    **launch,
                    MinSize=pool.min,
                    MaxSize=pool.max,
                    DesiredCapacity=pool.desired,
                    NewInstancesProtectedFromScaleIn=self.spec.protect_new_instances,
                    VPCZoneIdentifier=self.subnets[zone],
                    Tags=[
                        {
                            "Key": k,
                            "Value": v,
                            "PropagateAtLaunch": False,
                            "ResourceId": name,
                            "ResourceType": "auto-scaling-group",
                        }
                        for k, v in tags.items()
                    ],
                )
                self.groups[(pool.name, zone)] = name

    # ---- what the world exposes ---------------------------------------------------------

    @property
    def moto_url(self) -> str:
        if self._moto_url is None:
            raise RuntimeError("the world is not up (use it as a context manager)")
        return self._moto_url

    @property
    def mesos_address(self) -> str:
        """`127.0.0.1:<port>` of the emulated master."""
        return self.emulator.address

    @property
    def bridge(self) -> FleetBridge:
        if self._bridge is None:
            raise RuntimeError("the world is not up (use it as a context manager)")
        return self._bridge

    @property
    def asg_names(self) -> tuple[str, ...]:
        return tuple(sorted(self.groups.values()))

    def asg_name(self, pool: str, zone: str) -> str:
        return self.groups[(pool, zone)]

    def make_clients(self) -> tuple[AutoScalingClient, EC2Client]:
        """Adapter-configured clients on moto (closed when the world goes down)."""
        autoscaling, ec2 = make_clients(self.region, self.moto_url, self.session)
        self._clients += [autoscaling, ec2]
        return autoscaling, ec2

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (e.g. the daemon) to reach this world's moto."""
        return {
            "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.moto_url,
        }

    def invariant_violations(self) -> list[str]:
        """Every broken safety rule so far: instances lost with tasks, emulator accounting."""
        return [str(v) for v in self.bridge.violations] + self.core.invariant_violations()


#: An InstancesDistribution that buys Spot only.
SPOT_ONLY = {
    "OnDemandBaseCapacity": 0,
    "OnDemandPercentageAboveBaseCapacity": 0,
    "SpotAllocationStrategy": "price-capacity-optimized",
}


def mixed_policy(
    template: Mapping[str, str], overrides: Sequence[tuple[str, int | None]]
) -> dict[str, Any]:
    """A MixedInstancesPolicy over `template` with the given types (and weights)."""
    return {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": dict(template),
            "Overrides": [
                {"InstanceType": t, **({"WeightedCapacity": str(w)} if w else {})}
                for t, w in overrides
            ],
        }
    }
