"""One full reading of the world and the state, before any decision (what a pass acts on)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from controlplane.aws.capacity import CapacityLedger, Takeback
from controlplane.aws.observation import AwsObservation
from controlplane.control.assemble import Assembly
from controlplane.control.interruptions import Interrupted
from controlplane.control.registration import RegistrationReview
from controlplane.mesos.replies import AgentView
from controlplane.model import Snapshot
from controlplane.state import ControlState
from controlplane.state.durations import DurationStats


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
    #: What the loop knows of task durations and boot times, with this pass's samples.
    durations: DurationStats = field(default_factory=DurationStats)
    #: What this pass took from the interruption queue, and what it comes to.
    interrupted: Interrupted = field(default_factory=Interrupted)
    #: Duration samples `durations` holds that the table does not (`unstored_samples.py`),
    #: and whether changed durations are to be stored even with nothing else to write.
    unstored: int = 0
    durations_due: bool = True

    @property
    def snapshot(self) -> Snapshot:
        return self.assembly.snapshot
