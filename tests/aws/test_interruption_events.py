"""Instance events from the interruption queue: each kind AWS documents is read, anything
else well formed is ignored, and what is not an event is refused by name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controlplane.aws.interruption_events import (
    MAX_BODY_BYTES,
    BadEventError,
    InstanceEvent,
    parse_event,
)

I1 = "i-0123456789abcdef0"


def _event(detail_type: str, detail: Any, source: str = "aws.ec2", **extra: Any) -> str:
    body = {"version": "0", "id": "e1", "detail-type": detail_type, "source": source}
    return json.dumps({**body, "detail": detail, **extra})


def test_each_kind_names_its_instance() -> None:
    spot = _event(
        "EC2 Spot Instance Interruption Warning", {"instance-id": I1, "instance-action": "stop"}
    )
    assert parse_event(spot) == InstanceEvent("e1", "spot_interruption", (I1,), "stop")
    rebalance = _event("EC2 Instance Rebalance Recommendation", {"instance-id": I1})
    assert parse_event(rebalance) == InstanceEvent("e1", "rebalance", (I1,), None)
    gone = _event(
        "EC2 Instance State-change Notification", {"instance-id": I1, "state": "stopping"}
    )
    assert parse_event(gone) == InstanceEvent("e1", "state_change", (I1,), "stopping")
    hook = _event(
        "EC2 Instance-terminate Lifecycle Action",
        {"EC2InstanceId": I1, "AutoScalingGroupName": "g", "LifecycleHookName": "h"},
        source="aws.autoscaling",
    )
    assert parse_event(hook) == InstanceEvent("e1", "terminating", (I1,), None)
    health = _event(
        "AWS Health Event",
        {
            "service": "EC2",
            "eventTypeCategory": "scheduledChange",
            "affectedEntities": [{"entityValue": I1}],
        },
        source="aws.health",
    )
    assert parse_event(health) == InstanceEvent("e1", "scheduled_change", (I1,), None)
    parsed = parse_event(spot)
    assert parsed is not None and parsed.summary == f"spot interruption (stop) for {I1}"


def test_well_formed_events_of_other_kinds_are_ignored() -> None:
    running = _event(
        "EC2 Instance State-change Notification", {"instance-id": I1, "state": "running"}
    )
    assert parse_event(running) is None
    assert parse_event(_event("Something Else", {})) is None
    issue = _event(
        "AWS Health Event", {"service": "EC2", "eventTypeCategory": "issue"}, "aws.health"
    )
    assert parse_event(issue) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "message body is not JSON"),
        ("[1, 2]", "message body is not a JSON object"),
        (json.dumps({"id": "e1", "source": "aws.ec2"}), "not an EventBridge event: id, source"),
        (
            _event("EC2 Spot Instance Interruption Warning", "x"),
            "event e1: EC2 Spot Instance Interruption Warning without a detail object",
        ),
        (
            _event("EC2 Spot Instance Interruption Warning", {"instance-id": "i-xyz"}),
            "event e1: detail.instance-id: not an instance id: 'i-xyz'",
        ),
        ("[" * 100_000, "message body is not JSON"),
        ("x" * (MAX_BODY_BYTES + 1), f"message body over {MAX_BODY_BYTES} bytes"),
    ],
)
def test_what_is_not_an_event_is_refused_by_name(body: str, message: str) -> None:
    with pytest.raises(BadEventError) as caught:
        parse_event(body)
    assert str(caught.value).startswith(message)


@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_any_body_is_an_event_none_or_a_named_refusal(body: str) -> None:
    try:
        parse_event(body)
    except BadEventError as error:
        assert str(error)
