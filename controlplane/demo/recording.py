"""What one replay records: a sample per step and every action, for the report and summary."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Sample:
    t: float
    pending: int
    running: int
    #: pool -> resources requested by running tasks / offered by registered agents.
    allocated: dict[str, dict[str, float]]
    provisioned: dict[str, dict[str, float]]
    #: pool -> instances (launching or registered) and zone -> registered agents.
    instances: dict[str, int]
    agents_by_zone: dict[str, int]


@dataclass
class Recording:
    """Everything the report and summary need from one replay."""

    variant: str
    samples: list[Sample] = field(default_factory=list)
    #: task id -> (submitted, started) virtual seconds from the start.
    submitted: dict[str, float] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    #: task id -> the pool it was submitted to.
    pool_of: dict[str, str] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)
    #: (t, pool, kind, count, reason) of every scale action the daemon planned and made.
    actions: list[tuple[float, str, str, int, str]] = field(default_factory=list)
    busy_terminations: list[str] = field(default_factory=list)
    #: A Spot run: interruption warnings, and the tasks on instances AWS then took.
    spot: bool = False
    interruptions: int = 0
    lost_to_reclaims: list[str] = field(default_factory=list)
    passes: int = 0
    failed_passes: int = 0
    #: Steps the framework had not settled in by the replay's deadline (the run moved on).
    unsettled_steps: int = 0
    real_s: float = 0.0
