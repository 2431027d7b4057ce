"""DynamoDB items <-> state records. One partition per cluster, one sort key per item.

| item | holds |
|---|---|
| `lease` | `holder` (S), `token` (N), `expires_at` (N, epoch seconds) |
| `history#<pool>` | `body`: PoolHistory JSON |
| `intent#<agent id>` | `body`: DrainIntent JSON |
| `ledger` | `body`: CapacityLedger JSON |
| `durations` | `body`: DurationStats JSON (learned task durations per job, boot per pool) |
| `idle#<n>` | `data` (B): part n of `parts` (N) of zlib-compressed JSON {agent: epoch us} |
| `inst#<n>` | the same, of {"unregistered"/"warned": {instance: epoch us}, "registered": [i]} |
| `framework` | `value` (S): the Mesos framework id |
| `floor#<pool>` | `body`: ScheduledFloor JSON; `set_at` (N): epoch seconds (ordering) |

In the partition `<cluster>#tasks`: `task#<task id>`, `body`: the queued or live task (JSON).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from controlplane.aws.capacity import CapacityLedger
from controlplane.errors import describe
from controlplane.model import PoolHistory
from controlplane.state.durations import DurationStats
from controlplane.state.errors import BadStateError
from controlplane.state.records import (
    ControlState,
    DrainIntent,
    InstanceMemory,
    Lease,
    ScheduledFloor,
)

Item = dict[str, Any]
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
#: Bytes of compressed idle memory per item (a DynamoDB item holds at most 400 KB).
IDLE_CHUNK_BYTES = 350_000
LEASE = "lease"
LEDGER = "ledger"
DURATIONS = "durations"
FRAMEWORK = "framework"
HISTORY = "history#"
INTENT = "intent#"
IDLE = "idle#"
INSTANCES = "inst#"
FLOOR = "floor#"
#: In the `<cluster>#tasks` partition: one queued or live task of the framework each.
TASK = "task#"


def key(cluster: str, item: str) -> Item:
    return {"cluster": {"S": cluster}, "item": {"S": item}}


def epoch(when: datetime) -> str:
    return repr(when.timestamp())


def body_item(cluster: str, item: str, model: Any) -> Item:
    return {**key(cluster, item), "body": {"S": model.model_dump_json()}}


def lease_item(cluster: str, lease: Lease) -> Item:
    return {
        **key(cluster, LEASE),
        "holder": {"S": lease.holder},
        "token": {"N": str(lease.token)},
        "expires_at": {"N": epoch(lease.expires_at)},
    }


def read_lease(item: Item) -> Lease:
    try:
        return Lease(
            holder=item["holder"]["S"],
            token=int(item["token"]["N"]),
            expires_at=datetime.fromtimestamp(float(item["expires_at"]["N"]), UTC),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise BadStateError(f"item lease: unreadable ({error!r})") from None


def _micros(times: Mapping[str, datetime]) -> dict[str, int]:
    return {a: round(t.timestamp() * 1_000_000) for a, t in sorted(times.items())}


def _times(data: Any) -> dict[str, datetime]:
    return {str(a): datetime.fromtimestamp(int(us) / 1_000_000, UTC) for a, us in data.items()}


def blob_items(cluster: str, prefix: str, data: Any) -> list[Item]:
    """`data` as zlib-compressed JSON cut into numbered parts (an item holds 400 KB)."""
    blob = zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 6)
    parts = [blob[i : i + IDLE_CHUNK_BYTES] for i in range(0, len(blob), IDLE_CHUNK_BYTES)]
    return [
        {**key(cluster, f"{prefix}{n}"), "data": {"B": part}, "parts": {"N": str(len(parts))}}
        for n, part in enumerate(parts)
    ]


def idle_items(cluster: str, idle: Mapping[str, datetime]) -> list[Item]:
    """Idle memory as compressed parts; exact to the microsecond."""
    return blob_items(cluster, IDLE, _micros(idle))


def instance_items(cluster: str, memory: InstanceMemory) -> list[Item]:
    data = {
        "unregistered": _micros(memory.unregistered),
        "registered": sorted(memory.registered),
        "warned": _micros(memory.warned),
    }
    return blob_items(cluster, INSTANCES, data)


def read_state(items: Iterable[Item]) -> ControlState:
    """Every item of a cluster into one ControlState; any unreadable item is an error."""
    history: dict[str, PoolHistory] = {}
    intents: dict[str, DrainIntent] = {}
    ledger = CapacityLedger()
    durations = DurationStats()
    framework_id: str | None = None
    idle_parts: dict[int, tuple[int, bytes]] = {}
    inst_parts: dict[int, tuple[int, bytes]] = {}
    floors: dict[str, ScheduledFloor] = {}
    for item in items:
        name = _name(item)
        if name == LEASE:
            read_lease(item)  # checked, not kept: leadership is read through acquire()
        elif name == LEDGER:
            ledger = _body(item, name, CapacityLedger)
        elif name == DURATIONS:
            durations = _body(item, name, DurationStats)
        elif name == FRAMEWORK:
            framework_id = _text(item, name, "value")
        elif name.startswith(HISTORY):
            history[name.removeprefix(HISTORY)] = _body(item, name, PoolHistory)
        elif name.startswith(INTENT):
            intent = _body(item, name, DrainIntent)
            if intent.agent_id != name.removeprefix(INTENT):
                raise BadStateError(f"item {name}: holds the intent of agent {intent.agent_id}")
            intents[intent.agent_id] = intent
        elif name.startswith(FLOOR):
            floors[name.removeprefix(FLOOR)] = _body(item, name, ScheduledFloor)
        elif name.startswith(IDLE):
            idle_parts[_index(name, IDLE)] = (
                int(_text(item, name, "parts", "N")),
                _bytes(item, name),
            )
        elif name.startswith(INSTANCES):
            inst_parts[_index(name, INSTANCES)] = (
                int(_text(item, name, "parts", "N")),
                _bytes(item, name),
            )
        else:
            raise BadStateError(f"item {name}: unknown kind of item")
    idle: dict[str, datetime] = _blob(IDLE, idle_parts, _times, dict[str, datetime]())
    instances = _blob(INSTANCES, inst_parts, _memory, InstanceMemory())
    return ControlState(history, intents, ledger, idle, framework_id, floors, instances, durations)


def _memory(data: Any) -> InstanceMemory:
    return InstanceMemory(
        unregistered=_times(data["unregistered"]),
        registered=frozenset(str(i) for i in data["registered"]),
        warned=_times(data.get("warned", {})),  # absent in items written before it existed
    )


def _blob(
    prefix: str, parts: dict[int, tuple[int, bytes]], read: Callable[[Any], T], empty: T
) -> T:
    if not parts:
        return empty
    counts = {count for count, _ in parts.values()}
    if len(counts) != 1 or sorted(parts) != list(range(counts.pop())):
        raise BadStateError(f"items {prefix}*: parts {sorted(parts)} do not make a whole")
    blob = b"".join(parts[i][1] for i in sorted(parts))
    try:
        return read(json.loads(zlib.decompress(blob)))
    except (zlib.error, ValueError, TypeError, AttributeError, KeyError) as error:
        raise BadStateError(f"items {prefix}*: unreadable ({error!r})") from None


def _name(item: Item) -> str:
    try:
        return str(item["item"]["S"])
    except (KeyError, TypeError):
        raise BadStateError(f"an item without a sort key: {sorted(item)}") from None


def _text(item: Item, name: str, attr: str, kind: str = "S") -> str:
    try:
        return str(item[attr][kind])
    except (KeyError, TypeError):
        raise BadStateError(f"item {name}: attribute {attr} ({kind}) is missing") from None


def _bytes(item: Item, name: str) -> bytes:
    try:
        data = item["data"]["B"]
    except (KeyError, TypeError):
        raise BadStateError(f"item {name}: attribute data (B) is missing") from None
    return bytes(data)


def _index(name: str, prefix: str) -> int:
    try:
        return int(name.removeprefix(prefix))
    except ValueError:
        raise BadStateError(f"item {name}: not a numbered part") from None


def _body(item: Item, name: str, model: type[M]) -> M:
    text = _text(item, name, "body")
    try:
        return model.model_validate_json(text)
    except ValidationError as error:
        raise BadStateError(f"item {name}: {describe(error)}") from None
