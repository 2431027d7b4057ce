"""The SQS queue EventBridge feeds with instance events: read in bounded batches, peeked by
a long poll (without taking messages), deleted only once acted on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controlplane.aws.calls import AwsCaller, BotoClient

#: SQS's per-call maximum.
BATCH = 10


@dataclass(frozen=True)
class Message:
    id: str
    receipt: str
    body: str


@dataclass
class InterruptionQueue:
    caller: AwsCaller
    sqs: BotoClient
    url: str
    #: Messages one pass takes at most (the rest wait for the next pass).
    max_per_pass: int = 100
    #: How long a taken message stays hidden: a pass that dies before deleting it lets the
    #: next one see it again after this.
    visibility_s: int = 120

    def take(self) -> list[Message]:
        """Up to `max_per_pass` messages, without waiting."""
        out: list[Message] = []
        while len(out) < self.max_per_pass:
            reply = self.caller.read(
                self.sqs,
                "ReceiveMessage",
                QueueUrl=self.url,
                MaxNumberOfMessages=min(BATCH, self.max_per_pass - len(out)),
                VisibilityTimeout=self.visibility_s,
                WaitTimeSeconds=0,
            )
            batch = [_message(m) for m in reply.get("Messages", [])]
            if not batch:
                break
            out.extend(batch)
        return out

    def peek(self, wait_s: int) -> list[str]:
        """Long-poll for messages without taking them (they stay visible); their ids."""
        reply = self.caller.read(
            self.sqs,
            "ReceiveMessage",
            QueueUrl=self.url,
            MaxNumberOfMessages=BATCH,
            VisibilityTimeout=0,
            WaitTimeSeconds=max(0, min(20, wait_s)),
        )
        return [str(m.get("MessageId", "")) for m in reply.get("Messages", [])]

    def delete(self, messages: Sequence[Message]) -> None:
        for start in range(0, len(messages), BATCH):
            chunk = messages[start : start + BATCH]
            self.caller.write(
                self.sqs,
                "DeleteMessageBatch",
                idempotent=True,
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m.receipt} for i, m in enumerate(chunk)],
            )


def _message(raw: dict[str, object]) -> Message:
    return Message(
        str(raw.get("MessageId", "")), str(raw["ReceiptHandle"]), str(raw.get("Body", ""))
    )
