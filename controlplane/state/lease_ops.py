"""The leader lease: one item with a fencing token, taken and renewed by conditional puts.

Acquire is a conditional put (free, expired, or already ours); the token grows with every
change of holder. Renewing the lease a holder last saw is one conditional write on exactly
that item, without a read: half the calls of read-then-write, every lease_ttl/3 seconds.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from controlplane.aws.calls import AwsCaller, BotoClient
from controlplane.aws.errors import AwsCallError
from controlplane.state import items as it
from controlplane.state.errors import LeaseLostError, MissingTableError, StateError
from controlplane.state.records import Lease

log = logging.getLogger(__name__)
#: Error codes of a condition that did not hold: someone else moved first.
CONFLICTS = {"ConditionalCheckFailedException", "TransactionCanceledException"}


class LeaseOps:
    """The lease item of `cluster` in `table` (the state store's first part)."""

    caller: AwsCaller
    dynamodb: BotoClient
    table: str
    cluster: str

    def _missing(self, error: AwsCallError) -> StateError | AwsCallError:
        if error.code == "ResourceNotFoundException":
            return MissingTableError(
                f"state table {self.table} does not exist: create it with "
                "`controlplane init --config C` (Terraform creates it in production)"
            )
        return error

    def leader(self) -> Lease | None:
        """The stored lease (possibly expired), or None if there never was one."""
        try:
            reply = self.caller.read(
                self.dynamodb,
                "GetItem",
                TableName=self.table,
                Key=it.key(self.cluster, it.LEASE),
                ConsistentRead=True,
            )
        except AwsCallError as error:
            raise self._missing(error) from None
        item = reply.get("Item")
        return None if item is None else it.read_lease(item)

    def acquire(
        self, holder: str, now: datetime, ttl_s: float, known: Lease | None = None
    ) -> Lease | None:
        """Take a free or expired lease, or renew our own; None while another holds it.

        `known`: the lease the caller last held. Renewing it is one conditional write on
        exactly that item (holder, token, expiry), without reading first; if the item is no
        longer that, the lease is read and acquired as usual."""
        expires = now + timedelta(seconds=ttl_s)
        if known is not None and known.holder == holder:
            renewed = Lease(holder, known.token, expires)
            if self._put(renewed, *_stored_as(known)):
                return renewed
        current = self.leader()
        values: dict[str, Any]
        if current is None:
            lease = Lease(holder, 1, expires)
            condition, values = "attribute_not_exists(#i)", {}
        elif current.holder == holder or not current.valid(now):
            token = current.token if current.holder == holder else current.token + 1
            lease = Lease(holder, token, expires)
            condition, values = _stored_as(current)
        else:
            return None
        if not self._put(lease, condition, values):
            return None  # someone else moved first
        if current is not None and current.holder != holder:
            log.info(
                "lease taken over from %s (token %d -> %d)",
                current.holder,
                current.token,
                lease.token,
            )
        return lease

    def _put(self, lease: Lease, condition: str, values: dict[str, Any]) -> bool:
        """Write `lease` where `condition` holds: whether it landed (False: the condition
        did not hold). After a fault, the lease is read to see whether the write landed."""
        try:
            self.caller.write(
                self.dynamodb,
                "PutItem",
                idempotent=False,  # after a fault, re-read rather than repeat (below)
                TableName=self.table,
                Item=it.lease_item(self.cluster, lease),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#t": "token"} if values else {"#i": "item"},
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except AwsCallError as error:
            if error.code in CONFLICTS:
                return False
            if self.leader() == lease:  # a fault after the write: it landed
                return True
            raise
        return True

    def renew(self, lease: Lease, now: datetime, ttl_s: float) -> Lease:
        """Extend our lease; LeaseLostError if it is no longer ours."""
        if not lease.valid(now):
            raise LeaseLostError(f"lease of {lease.holder} expired at {lease.expires_at}")
        renewed = self.acquire(lease.holder, now, ttl_s, known=lease)
        if renewed is None or renewed.token != lease.token:
            raise LeaseLostError(f"lease of {lease.holder} (token {lease.token}) was taken over")
        return renewed

    def release(self, lease: Lease) -> None:
        """Expire our lease now so a standby takes over at once; a no-op if not ours."""
        gone = Lease(lease.holder, lease.token, datetime.fromtimestamp(0, lease.expires_at.tzinfo))
        try:
            self.caller.write(
                self.dynamodb,
                "PutItem",
                idempotent=True,
                TableName=self.table,
                Item=it.lease_item(self.cluster, gone),
                ConditionExpression="holder = :h AND #t = :t",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={
                    ":h": {"S": lease.holder},
                    ":t": {"N": str(lease.token)},
                },
            )
        except AwsCallError as error:
            if error.code not in CONFLICTS:
                raise


def _stored_as(lease: Lease) -> tuple[str, dict[str, Any]]:
    """The condition that the stored lease is exactly `lease` (holder, token, expiry)."""
    return "#t = :old AND holder = :holder AND expires_at = :exp", {
        ":old": {"N": str(lease.token)},
        ":holder": {"S": lease.holder},
        ":exp": {"N": it.epoch(lease.expires_at)},
    }
