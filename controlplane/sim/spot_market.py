"""Spot reclaims, as AWS makes them: an interruption warning (an EventBridge envelope on the
interruption queue, exactly as the rule would deliver it), then, two minutes later, the
instance terminated whatever runs on it.

Each running Spot instance (of a group whose distribution buys Spot) is warned with
probability 1 - exp(-rate x step) per step, from a seeded generator: runs repeat.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from controlplane.sim.world import SimWorld

#: AWS warns this long before it takes a Spot instance back.
WARNING_S = 120.0


@dataclass
class SpotMarket:
    world: SimWorld
    queue_url: str
    #: Warnings per running Spot instance per hour.
    rate_per_hour: float
    rng: np.random.Generator
    warned: dict[str, float] = field(default_factory=dict)
    #: Warnings sent, and instances AWS then took (the others were drained first).
    warnings: int = 0
    reclaimed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sqs: Any = self.world.session.client(
            "sqs", endpoint_url=self.world.moto_url, region_name=self.world.region
        )

    def step(self, now: float, step_s: float) -> None:
        """Reclaim the instances warned two minutes ago; warn new ones."""
        for instance, at in sorted(self.warned.items()):
            if now - at >= WARNING_S:
                del self.warned[instance]
                self._reclaim(instance)
        chance = 1.0 - math.exp(-self.rate_per_hour * step_s / 3600.0)
        for instance in self._spot_instances():
            if instance not in self.warned and self.rng.random() < chance:
                self.warned[instance] = now
                self.warnings += 1
                self._warn(instance, now)

    def _spot_instances(self) -> list[str]:
        groups = self.world.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
        out = []
        for group in groups:
            mixed = group.get("MixedInstancesPolicy", {})
            spot = mixed.get("InstancesDistribution", {}).get("OnDemandPercentageAboveBaseCapacity")
            if spot is None or spot >= 100:
                continue
            out += [
                i["InstanceId"]
                for i in group.get("Instances", [])
                if i.get("LifecycleState") == "InService"
            ]
        return sorted(out)

    def _warn(self, instance: str, now: float) -> None:
        when = datetime.fromtimestamp(self.world.clock.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "version": "0",
            "id": str(uuid.UUID(int=int(self.rng.integers(0, 2**63)))),
            "detail-type": "EC2 Spot Instance Interruption Warning",
            "source": "aws.ec2",
            "account": "123456789012",
            "time": when,
            "region": self.world.region,
            "resources": [f"arn:aws:ec2:{self.world.region}:123456789012:instance/{instance}"],
            "detail": {"instance-id": instance, "instance-action": "terminate"},
        }
        self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body))

    def _reclaim(self, instance: str) -> None:
        autoscaling = self.world.autoscaling
        known = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance])
        if not known["AutoScalingInstances"]:
            return  # gone already: the control plane drained it first
        self.world.bridge.reclaimed.add(instance)
        self.reclaimed.append(instance)
        # The group's desired shrinks with it (moto launches no replacement by itself).
        autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=instance, ShouldDecrementDesiredCapacity=True
        )
