"""moto in server mode on loopback, reset between tests, and a three-zone two-pool world."""

from __future__ import annotations

import random
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from moto.server import ThreadedMotoServer
from mypy_boto3_autoscaling import AutoScalingClient
from mypy_boto3_ec2 import EC2Client

from controlplane.aws.calls import AwsCaller, AwsMetrics
from controlplane.aws.capacity import CapacityLedger
from controlplane.aws.clients import make_clients
from controlplane.aws.observation import AwsObservation, AwsObserver
from controlplane.aws.pool_rules import AdapterSettings, PoolRules
from controlplane.sim.world import mixed_policy

REGION = "us-east-1"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
CLUSTER = "prod"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
#: Pool name -> instance type of its launch template.
POOLS = {"batch": "m5.xlarge", "web": "c5.large"}


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@dataclass
class World:
    """Clients, caller and observer against a fresh moto, plus helpers to build groups."""

    autoscaling: AutoScalingClient
    ec2: EC2Client
    metrics: AwsMetrics
    caller: AwsCaller
    settings: AdapterSettings
    observer: AwsObserver
    #: A plain client for test assertions, never throttled by injected faults.
    check: AutoScalingClient
    subnets: dict[str, str] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)

    def subnet(self, zone: str) -> str:
        if zone not in self.subnets:
            if not self.subnets:
                self._vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            index = len(self.subnets)
            self.subnets[zone] = self.ec2.create_subnet(
                VpcId=self._vpc, CidrBlock=f"10.0.{index}.0/24", AvailabilityZone=zone
            )["Subnet"]["SubnetId"]
        return self.subnets[zone]

    def template(self, name: str, instance_type: str) -> str:
        if name not in self.templates:
            self.templates[name] = self.ec2.create_launch_template(
                LaunchTemplateName=name,
                LaunchTemplateData=cast(
                    Any, {"ImageId": "ami-12c6146b", "InstanceType": instance_type}
                ),
            )["LaunchTemplate"]["LaunchTemplateId"]
        return self.templates[name]

    def group(
        self,
        name: str,
        pool: str,
        zones: tuple[str, ...],
        *,
        instance_type: str = "m5.xlarge",
        min_size: int = 0,
        max_size: int = 10,
        desired: int = 0,
        cluster: str = CLUSTER,
        tags: dict[str, str] | None = None,
        overrides: tuple[tuple[str, int | None], ...] = (),
        distribution: dict[str, Any] | None = None,
    ) -> None:
        """One group; `overrides` (types, optional weights) make it a mixed-instance group,
        and a `distribution` (an InstancesDistribution) one that may buy Spot."""
        all_tags = {"controlplane:cluster": cluster, "controlplane:pool": pool, **(tags or {})}
        template = {
            "LaunchTemplateId": self.template(f"lt-{pool}", instance_type),
            "Version": "$Latest",
        }
        launch: dict[str, Any] = {"LaunchTemplate": template}
        if overrides or distribution is not None:
            mixed = mixed_policy(template, overrides or ((instance_type, None),))
            if distribution is not None:
                mixed["InstancesDistribution"] = distribution
            launch = {"MixedInstancesPolicy": mixed}
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            **launch,
            MinSize=min_size,
            MaxSize=max_size,
            DesiredCapacity=desired,
            VPCZoneIdentifier=",".join(self.subnet(z) for z in zones),
            Tags=[
                {
                    "Key": k,
                    "Value": v,
                    "PropagateAtLaunch": False,
                    "ResourceId": name,
                    "ResourceType": "auto-scaling-group",
                }
                for k, v in all_tags.items()
            ],
        )

    def two_pools(self, desired: int = 1, max_size: int = 10, min_size: int = 0) -> None:
        """Pools batch and web, one group per zone each, named `<pool>-<zone letter>`."""
        for pool, itype in POOLS.items():
            for zone in ZONES:
                self.group(
                    f"{pool}-{zone[-1]}",
                    pool,
                    (zone,),
                    instance_type=itype,
                    min_size=min_size,
                    max_size=max_size,
                    desired=desired,
                )

    def observe(self, ledger: CapacityLedger | None = None) -> AwsObservation:
        return self.observer.observe(ledger or CapacityLedger(), NOW)

    def desired(self, name: str) -> int:
        group = self.check.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        return group["AutoScalingGroups"][0]["DesiredCapacity"]

    def instance_ids(self, name: str) -> list[str]:
        group = self.check.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        return sorted(i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"])


def _reset(url: str) -> None:
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as reply:
        reply.read()


#: One session for all tests: its loaded service models make new clients cheap.
_SESSION = boto3.Session(
    region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
)


def build_world(
    url: str,
    *,
    dry_run: bool = False,
    settings: AdapterSettings | None = None,
    max_attempts: int = 5,
) -> World:
    autoscaling, ec2 = make_clients(REGION, endpoint_url=url, session=_SESSION)
    check, _ = make_clients(REGION, endpoint_url=url, session=_SESSION)
    metrics = AwsMetrics()
    caller = AwsCaller(
        metrics=metrics, dry_run=dry_run, max_attempts=max_attempts, sleep=lambda _s: None
    )
    settings = settings or AdapterSettings(
        cluster=CLUSTER,
        default_rules=PoolRules(min_idle=1, max_idle=3),
        pools={"web": PoolRules(min_idle=0, max_idle=2, mem_reserve_mib=512)},
    )
    observer = AwsObserver(caller, autoscaling, ec2, settings, random.Random(7))
    return World(autoscaling, ec2, metrics, caller, settings, observer, check)


@pytest.fixture
def world(moto_url: str) -> World:
    _reset(moto_url)
    return build_world(moto_url)


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kw: Any) -> Iterator[bytes]:
        yield self._body


def throttle_reply(code: str = "Throttling") -> AWSResponse:
    """The reply AWS query APIs give when they throttle (nothing was done)."""
    body = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>"
        f"{code}</Code><Message>Rate exceeded</Message></Error>"
        "<RequestId>t</RequestId></ErrorResponse>"
    ).encode()
    return AWSResponse("https://throttle", 400, HTTPHeaders(), _Body(body))


def server_error_reply() -> AWSResponse:
    body = (
        b"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>"
        b"<Message>boom</Message></Error><RequestId>t</RequestId></ErrorResponse>"
    )
    return AWSResponse("https://fault", 500, HTTPHeaders(), _Body(body))


def inject(
    client: Any, operation: str, rate: float, seed: int, reply: Callable[[], AWSResponse]
) -> list[bool]:
    """Make `rate` of the calls to `operation` fail before they leave; returns the draws."""
    rng = random.Random(seed)
    draws: list[bool] = []

    def before_send(**_kw: Any) -> AWSResponse | None:
        hit = rng.random() < rate
        draws.append(hit)
        return reply() if hit else None

    client.meta.events.register_first(f"before-send.{_service(client)}.{operation}", before_send)
    return draws


def _service(client: Any) -> str:
    return str(client.meta.service_model.service_id.hyphenize())
