"""EC2 and Auto Scaling events (EventBridge envelopes delivered through SQS) as the loop
acts on them: which instance, what is about to happen to it.

Strict: a body that is not a JSON EventBridge envelope, or an event we act on whose detail
lacks the instance, is `BadEventError` (the message is kept for the queue's dead-letter
redrive, never half-acted on). A well-formed event of another kind is `None`: harmless.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from controlplane.errors import InputError

#: SQS's own limit on a message body.
MAX_BODY_BYTES = 256 * 1024
#: At most this many instances named by one event (a Health event may list several).
MAX_INSTANCES = 100
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")

Kind = Literal["spot_interruption", "rebalance", "scheduled_change", "state_change", "terminating"]
KINDS: dict[tuple[str, str], Kind] = {
    ("aws.ec2", "EC2 Spot Instance Interruption Warning"): "spot_interruption",
    ("aws.ec2", "EC2 Instance Rebalance Recommendation"): "rebalance",
    ("aws.ec2", "EC2 Instance State-change Notification"): "state_change",
    ("aws.autoscaling", "EC2 Instance-terminate Lifecycle Action"): "terminating",
    ("aws.health", "AWS Health Event"): "scheduled_change",
}
#: Instance states after which its tasks are lost.
GONE_STATES = frozenset({"shutting-down", "terminated", "stopping", "stopped"})


class BadEventError(InputError):
    """A queue message that is not an event we understand."""


@dataclass(frozen=True)
class InstanceEvent:
    id: str
    kind: Kind
    instance_ids: tuple[str, ...]
    #: The instance action (terminate, stop, hibernate) or new state, where given.
    detail: str | None = None

    @property
    def summary(self) -> str:
        what = f" ({self.detail})" if self.detail else ""
        return f"{self.kind.replace('_', ' ')}{what} for {', '.join(self.instance_ids)}"


def parse_event(body: str) -> InstanceEvent | None:
    """The event a message carries; None for a well-formed event of a kind not acted on."""
    if len(body.encode()) > MAX_BODY_BYTES:
        raise BadEventError(f"message body over {MAX_BODY_BYTES} bytes")
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise BadEventError(f"message body is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise BadEventError("message body is not a JSON object")
    event_id, source, detail_type = (raw.get(k) for k in ("id", "source", "detail-type"))
    if not all(isinstance(v, str) and v for v in (event_id, source, detail_type)):
        raise BadEventError("not an EventBridge event: id, source and detail-type are required")
    assert isinstance(event_id, str) and isinstance(source, str) and isinstance(detail_type, str)
    kind = KINDS.get((source, detail_type))
    if kind is None:
        return None
    detail = raw.get("detail")
    if not isinstance(detail, dict):
        raise BadEventError(f"event {event_id}: {detail_type} without a detail object")
    if kind == "scheduled_change":
        return _health(event_id, raw, detail)
    key = "EC2InstanceId" if kind == "terminating" else "instance-id"
    instance = _instance(detail.get(key), f"event {event_id}: detail.{key}")
    extra = detail.get("instance-action") if kind == "spot_interruption" else detail.get("state")
    if kind == "state_change" and extra not in GONE_STATES:
        return None  # pending, running: nothing to do
    return InstanceEvent(event_id, kind, (instance,), extra if isinstance(extra, str) else None)


def _health(event_id: str, raw: dict[str, Any], detail: dict[str, Any]) -> InstanceEvent | None:
    """A scheduled change to EC2 instances (retirement, maintenance); others are None."""
    if detail.get("service") != "EC2" or detail.get("eventTypeCategory") != "scheduledChange":
        return None
    entities = detail.get("affectedEntities") or []
    if not isinstance(entities, list) or len(entities) > MAX_INSTANCES:
        raise BadEventError(f"event {event_id}: affectedEntities is not a list of instances")
    ids = [e.get("entityValue") for e in entities if isinstance(e, dict)]
    resources = raw.get("resources") or []
    if not ids and isinstance(resources, list):
        ids = [str(r).rsplit("/", 1)[-1] for r in resources[:MAX_INSTANCES]]
    found = tuple(i for i in ids if isinstance(i, str) and _INSTANCE_ID.match(i))
    return InstanceEvent(event_id, "scheduled_change", found) if found else None


def _instance(value: object, where: str) -> str:
    if not isinstance(value, str) or not _INSTANCE_ID.match(value):
        raise BadEventError(f"{where}: not an instance id: {str(value)[:40]!r}")
    return value
