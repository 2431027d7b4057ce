"""The control loop's durable state in one DynamoDB table, behind a leader lease.

Leadership is a lease item with a fencing token (`lease_ops.py`): acquire is a conditional
put (free, expired, or already ours), the token grows with every change of holder, and every
state write is a transaction whose first member checks the lease (holder, token, unexpired). A
leader that stalled past its lease cannot overwrite its successor's state. Times are the
caller's clock (hosts keep NTP); moto never expires items, so TTL is not used.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from controlplane.aws.calls import AwsCaller, BotoClient
from controlplane.aws.errors import AwsCallError
from controlplane.state import items as it
from controlplane.state.errors import LeaseLostError
from controlplane.state.lease_ops import CONFLICTS as _CONFLICTS
from controlplane.state.lease_ops import LeaseOps
from controlplane.state.records import ControlState, Lease, ScheduledFloor, StateChanges

log = logging.getLogger(__name__)
#: TransactWriteItems takes at most 100 members; one is the lease check.
TRANSACTION_WRITES = 99
#: A transaction cancelled for anything but the lease check (a conflict with our own lease
#: renewal, throttling) is tried this many times in all.
TRANSACTION_ATTEMPTS = 5
#: The framework's task queue lives in its own partition, `<cluster>#tasks`, so that the
#: pass's one Query of the cluster's state never reads it.
TASKS_PARTITION = "#tasks"


class StateStore(LeaseOps):
    """One cluster's state (its own partition) in `table`."""

    #: Items per Query page (None: DynamoDB's 1 MB pages); tests lower it to page.
    query_limit: int | None = None

    def __init__(
        self,
        caller: AwsCaller,
        dynamodb: BotoClient,
        table: str,
        cluster: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.caller = caller
        self.dynamodb = dynamodb
        self.table = table
        self.cluster = cluster
        self._sleep = sleep
        #: Blob prefix -> the names of its parts in the table, as this store last loaded or
        #: wrote them (absent: unknown, so a commit asks the table).
        self._parts: dict[str, set[str]] = {}

    # ---- table --------------------------------------------------------------------------

    def create_table(self) -> bool:
        """Create the table if missing and wait for it (`controlplane init`, tests, the demo;
        Terraform in production). Whether it was created."""
        try:
            self.caller.read(self.dynamodb, "DescribeTable", TableName=self.table)
            return False
        except AwsCallError as error:
            if error.code != "ResourceNotFoundException":
                raise
        self.caller.write(
            self.dynamodb,
            "CreateTable",
            idempotent=False,
            TableName=self.table,
            KeySchema=[
                {"AttributeName": "cluster", "KeyType": "HASH"},
                {"AttributeName": "item", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "cluster", "AttributeType": "S"},
                {"AttributeName": "item", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        self.dynamodb.get_waiter("table_exists").wait(  # type: ignore[attr-defined]
            TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        return True

    # ---- reads --------------------------------------------------------------------------

    def load(self) -> ControlState:
        """Every item of the cluster in one consistent, paginated Query."""
        self._parts = {}
        items = self._query()
        state = it.read_state(items)
        names = [str(i["item"]["S"]) for i in items]
        self._parts = {p: {n for n in names if n.startswith(p)} for p in (it.IDLE, it.INSTANCES)}
        return state

    def _query(self, prefix: str | None = None, partition: str | None = None) -> list[it.Item]:
        condition = "#c = :c" + (" AND begins_with(#i, :p)" if prefix else "")
        values: dict[str, Any] = {":c": {"S": partition or self.cluster}}
        names = {"#c": "cluster"}
        if prefix:
            values[":p"] = {"S": prefix}
            names["#i"] = "item"
        out: list[it.Item] = []
        start: dict[str, Any] | None = None
        while True:
            extra: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
            if self.query_limit is not None:
                extra["Limit"] = self.query_limit
            try:
                reply = self.caller.read(
                    self.dynamodb,
                    "Query",
                    TableName=self.table,
                    KeyConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ConsistentRead=True,
                    **extra,
                )
            except AwsCallError as error:
                raise self._missing(error) from None
            out += reply.get("Items", [])
            start = reply.get("LastEvaluatedKey")
            if not start:
                return out

    # ---- the scheduler's floors (not fenced: the scheduler owns them, the loop reads) ----

    def set_floor(self, pool: str, floor: ScheduledFloor | None, now: datetime) -> bool:
        """Store (or with None remove) a pool's floor unless a later decision is stored.

        Ordered by decision time (`now`, stored as `set_at`): a late or retried invocation
        never overwrites a newer decision. Returns whether the write landed.
        """
        name = f"{it.FLOOR}{pool}"
        if floor is not None and floor.set_at != now:
            raise ValueError(f"floor of {pool}: set_at {floor.set_at} is not the decision {now}")
        stamp = {":s": {"N": it.epoch(now)}}
        try:
            if floor is None:
                self.caller.write(
                    self.dynamodb,
                    "DeleteItem",
                    idempotent=True,
                    TableName=self.table,
                    Key=it.key(self.cluster, name),
                    ConditionExpression="attribute_exists(#i) AND set_at < :s",
                    ExpressionAttributeNames={"#i": "item"},
                    ExpressionAttributeValues=stamp,
                )
            else:
                self.caller.write(
                    self.dynamodb,
                    "PutItem",
                    idempotent=True,
                    TableName=self.table,
                    Item={**it.body_item(self.cluster, name, floor), "set_at": stamp[":s"]},
                    ConditionExpression="attribute_not_exists(#i) OR set_at < :s",
                    ExpressionAttributeNames={"#i": "item"},
                    ExpressionAttributeValues=stamp,
                )
        except AwsCallError as error:
            if error.code in _CONFLICTS:
                return False
            raise
        return True

    # ---- fenced writes ------------------------------------------------------------------

    def commit(self, lease: Lease, now: datetime, changes: StateChanges) -> None:
        """Write `changes` only while `lease` holds; LeaseLostError otherwise."""
        if changes.empty():
            return
        puts: list[it.Item] = []
        deletes: list[str] = []
        for pool, stamps in sorted(changes.history.items()):
            puts.append(it.body_item(self.cluster, f"{it.HISTORY}{pool}", stamps))
        for intent in changes.put_intents:
            puts.append(it.body_item(self.cluster, f"{it.INTENT}{intent.agent_id}", intent))
        deletes += [f"{it.INTENT}{agent}" for agent in changes.delete_intents]
        if changes.ledger is not None:
            puts.append(it.body_item(self.cluster, it.LEDGER, changes.ledger))
        if changes.durations is not None:
            puts.append(it.body_item(self.cluster, it.DURATIONS, changes.durations))
        blobs = []
        if changes.idle_since is not None:
            blobs.append((it.IDLE, it.idle_items(self.cluster, changes.idle_since)))
        if changes.instances is not None:
            blobs.append((it.INSTANCES, it.instance_items(self.cluster, changes.instances)))
        written: dict[str, set[str]] = {}
        for prefix, parts in blobs:
            puts += parts
            stored = self._parts.get(prefix)
            if stored is None:
                stored = {i["item"]["S"] for i in self._query(prefix)}
            written[prefix] = {p["item"]["S"] for p in parts}
            deletes += sorted(stored - written[prefix])
        try:
            self._fenced(lease, now, puts, deletes)
        except BaseException:
            for prefix in written:  # more than 99 members go in several transactions
                self._parts.pop(prefix, None)
            raise
        self._parts.update(written)

    # ---- the framework's task queue (controlplane/state/task_journal.py) -----------------

    @property
    def tasks_partition(self) -> str:
        return f"{self.cluster}{TASKS_PARTITION}"

    def load_tasks(self) -> list[it.Item]:
        """Every stored task item (one consistent, paginated Query of the tasks partition)."""
        return self._query(it.TASK, self.tasks_partition)

    def write_tasks(
        self, lease: Lease, now: datetime, puts: dict[str, str], deletes: list[str]
    ) -> None:
        """Task id -> body JSON puts (one transaction when at most 99) and deletions, fenced."""
        part = self.tasks_partition
        items = [
            {**it.key(part, f"{it.TASK}{task_id}"), "body": {"S": body}}
            for task_id, body in puts.items()
        ]
        self._fenced(lease, now, items, [f"{it.TASK}{t}" for t in deletes], partition=part)

    def save_framework_id(self, lease: Lease, now: datetime, framework_id: str) -> None:
        item = {**it.key(self.cluster, it.FRAMEWORK), "value": {"S": framework_id}}
        self._fenced(lease, now, [item], [])

    def clear_framework_id(self, lease: Lease, now: datetime) -> None:
        self._fenced(lease, now, [], [it.FRAMEWORK])

    def _fenced(
        self,
        lease: Lease,
        now: datetime,
        puts: list[it.Item],
        deletes: list[str],
        *,
        partition: str | None = None,
    ) -> None:
        members: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table, "Item": item}} for item in puts
        ] + [
            {"Delete": {"TableName": self.table, "Key": it.key(partition or self.cluster, name)}}
            for name in deletes
        ]
        check = {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": it.key(self.cluster, it.LEASE),
                "ConditionExpression": "holder = :h AND #t = :t AND expires_at > :now",
                "ExpressionAttributeNames": {"#t": "token"},
                "ExpressionAttributeValues": {
                    ":h": {"S": lease.holder},
                    ":t": {"N": str(lease.token)},
                    ":now": {"N": it.epoch(now)},
                },
            }
        }
        for start in range(0, len(members), TRANSACTION_WRITES):
            self._transact(lease, now, [check, *members[start : start + TRANSACTION_WRITES]])

    def _transact(self, lease: Lease, now: datetime, items: list[dict[str, Any]]) -> None:
        """One fenced transaction. Only a failed lease check means the lease is lost; a
        cancellation for a conflict (our own renewal touching the lease item) or for
        throttling is tried again, with jittered backoff."""
        for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
            try:
                self.caller.write(
                    self.dynamodb,
                    "TransactWriteItems",
                    idempotent=True,  # puts and deletes of whole items: repeating is harmless
                    TransactItems=items,
                )
                return
            except AwsCallError as error:
                if error.code not in _CONFLICTS:
                    raise
                if self._lease_check_failed(error, lease, now):
                    raise LeaseLostError(
                        f"lease of {lease.holder} (token {lease.token}) no longer holds: "
                        f"{error.api_message}"
                    ) from None
                if attempt == TRANSACTION_ATTEMPTS:
                    raise
                wait = random.uniform(0, min(2.0, 0.05 * 2**attempt))
                log.warning("transaction cancelled (%s); retry %d in %.2fs", error, attempt, wait)
                self._sleep(wait)

    def _lease_check_failed(self, error: AwsCallError, lease: Lease, now: datetime) -> bool:
        """Whether the cancellation was the lease check's (the first member) doing."""
        cause = error.__cause__
        reasons = (
            cause.response.get("CancellationReasons") if isinstance(cause, ClientError) else None
        )
        if isinstance(reasons, list) and reasons:
            first = reasons[0].get("Code") if isinstance(reasons[0], dict) else None
            return first == "ConditionalCheckFailed"
        stored = self.leader()  # no reasons given: ask the lease item itself
        return (
            stored is None
            or (stored.holder, stored.token)
            != (
                lease.holder,
                lease.token,
            )
            or not stored.valid(now)
        )
