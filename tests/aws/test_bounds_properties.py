"""Property: whatever the plan says, actions keep every group within [min, max]."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.aws.actions import apply_scale_downs, apply_scale_ups
from controlplane.aws.calls import AwsCaller, AwsMetrics
from controlplane.aws.capacity import CapacityLedger
from controlplane.aws.observation import AwsObservation
from controlplane.aws.replies import ObservedGroup, ObservedInstance
from controlplane.model import ScaleDown, ScaleUp

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STATES = ("InService", "Pending", "Terminating", "Terminating:Wait")


class RecordingAutoScaling:
    """Applies desired and terminate calls to one in-memory group, like AWS would."""

    def __init__(self, desired: int) -> None:
        self.meta = SimpleNamespace(service_model=SimpleNamespace(service_name="autoscaling"))
        self.desired = desired
        self.sent: list[int] = []
        self.terminated: list[str] = []

    def set_desired_capacity(self, *, DesiredCapacity: int, **_kw: Any) -> dict[str, Any]:  # noqa: N803
        self.desired = DesiredCapacity
        self.sent.append(DesiredCapacity)
        return {}

    def terminate_instance_in_auto_scaling_group(
        self,
        *,
        InstanceId: str,  # noqa: N803
        ShouldDecrementDesiredCapacity: bool,  # noqa: N803
    ) -> dict[str, Any]:
        assert ShouldDecrementDesiredCapacity
        self.terminated.append(InstanceId)
        self.desired -= self.weight(InstanceId)
        return {}

    def weight(self, _instance_id: str) -> int:
        """What terminating it takes off desired (1 in a group counted in instances)."""
        return 1

    def set_instance_protection(self, **_kw: Any) -> dict[str, Any]:
        return {}


@st.composite
def groups(draw: st.DrawFn) -> ObservedGroup:
    low = draw(st.integers(0, 5))
    high = draw(st.integers(low, low + 8))
    desired = draw(st.integers(low, high))
    states = draw(st.lists(st.sampled_from(STATES), min_size=desired, max_size=desired))
    instances = tuple(
        ObservedInstance(f"i-{n}", "us-east-1a", state, draw(st.booleans()), True)
        for n, state in enumerate(states)
    )
    return ObservedGroup(
        "g", "p", "us-east-1a", low, high, desired, {}, None, ("m5.large",), instances
    )


@settings(max_examples=300, deadline=None)
@given(
    group=groups(),
    counts=st.lists(st.integers(-2, 12), max_size=3),
    victims=st.lists(st.tuples(st.integers(0, 14), st.booleans()), max_size=10),
)
def test_actions_never_leave_the_group_bounds(
    group: ObservedGroup, counts: list[int], victims: list[tuple[int, bool]]
) -> None:
    client = RecordingAutoScaling(group.desired)
    caller = AwsCaller(metrics=AwsMetrics(), sleep=lambda _s: None)
    observation = AwsObservation(NOW, (), {"g": group})
    ups = [ScaleUp(pool="p", asg="g", zone="us-east-1a", count=c, reason="r") for c in counts]
    apply_scale_ups(caller, client, ups, observation, CapacityLedger(), NOW)
    assert all(group.min <= sent <= group.max for sent in client.sent)

    client.desired = group.desired  # scale-downs act on the same observation
    downs = [
        ScaleDown(
            pool="p", agent=f"a{n}", instance_id=f"i-{n}", asg="g", zone="us-east-1a", reason="r"
        )
        for n, _ in victims
    ]
    drained = {f"i-{n}": flag for n, flag in victims}
    apply_scale_downs(caller, client, downs, observation, drained)
    assert client.desired >= group.min
    assert len(client.terminated) == len(set(client.terminated))  # never twice
    for iid in client.terminated:
        instance = group.instance(iid)
        assert instance is not None and not instance.leaving and drained[iid] is True
