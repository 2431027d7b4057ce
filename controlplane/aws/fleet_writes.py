"""The one AWS write port of a pass: every change to the fleet goes through a `FleetWriter`.

Built once per pass over what that pass observed (in the spirit of Escalator's NodeGroup),
so callers say what to do (`scale_up`, `scale_down`, `protect`, ...) and never pass the
caller, the client and the observation around. Each method checks its actions against the
observed groups and returns an `ActionResult` per action (`actions.py`, `lifecycle.py`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from controlplane.aws.actions import (
    ActionResult,
    Expired,
    apply_scale_downs,
    apply_scale_ups,
    apply_takebacks,
    expire_instances,
    protect_busy,
)
from controlplane.aws.calls import AwsCaller, BotoClient
from controlplane.aws.capacity import CapacityLedger, Takeback
from controlplane.aws.lifecycle import settle_terminations
from controlplane.aws.observation import AwsObservation
from controlplane.model import ScaleDown, ScaleUp


@dataclass(frozen=True)
class FleetWriter:
    caller: AwsCaller
    autoscaling: BotoClient
    observation: AwsObservation
    #: The termination lifecycle hook every group carries.
    hook: str

    def take_back(self, takebacks: Sequence[Takeback]) -> list[ActionResult]:
        """Lower desired by what failed zones did not deliver."""
        return apply_takebacks(self.caller, self.autoscaling, takebacks, self.observation)

    def expire(self, expired: Sequence[Expired]) -> list[ActionResult]:
        """Terminate instances past their registration deadline."""
        return expire_instances(self.caller, self.autoscaling, expired)

    def protect(self, busy: Collection[str]) -> list[ActionResult]:
        """Protect busy instances from scale-in."""
        return protect_busy(self.caller, self.autoscaling, self.observation, busy)

    def scale_up(
        self, actions: Sequence[ScaleUp], ledger: CapacityLedger, now: datetime
    ) -> tuple[list[ActionResult], CapacityLedger]:
        """Raise desired capacity (absolute values), recording the raises in the ledger."""
        return apply_scale_ups(
            self.caller, self.autoscaling, actions, self.observation, ledger, now
        )

    def scale_down(
        self, actions: Sequence[ScaleDown], drained: Mapping[str, bool]
    ) -> list[ActionResult]:
        """Terminate drained instances with decrement."""
        return apply_scale_downs(self.caller, self.autoscaling, actions, self.observation, drained)

    def settle_held(self, drained: Mapping[str, bool]) -> list[ActionResult]:
        """Heartbeat or release instances our lifecycle hook holds."""
        return settle_terminations(
            self.caller, self.autoscaling, self.observation, drained, self.hook
        )
