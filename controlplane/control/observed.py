"""One full reading of the world and the state, before any decision (what a pass acts on)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from controlplane.aws.capacity import CapacityLedger, Takeback
from controlplane.aws.observation import AwsObservation
from controlplane.control.assemble import Assembly
from controlplane.control.registration import RegistrationReview
from controlplane.mesos.replies import AgentView
from controlplane.model import Snapshot
from controlplane.state import ControlState


@dataclass(frozen=True)
class Observed:
    """One full reading of the world and the state, before any decision."""

    now: datetime
    state: ControlState
    views: list[AgentView]
    aws: AwsObservation
    ledger: CapacityLedger
    takebacks: list[Takeback]
    assembly: Assembly
    idle_since: dict[str, datetime]
    registrations: RegistrationReview

    @property
    def snapshot(self) -> Snapshot:
        return self.assembly.snapshot
