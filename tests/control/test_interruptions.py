"""Spot interruptions end to end, in real time: moto (SQS, Auto Scaling, EC2, DynamoDB),
the Mesos emulator and a daemon with a real pymesos driver.

A warning for an instance running one of our tasks deactivates its agent, relaunches the
task on a new instance in another zone (the reclaimed group is backed off), and deletes the
message only after acting; a duplicate or an unknown instance changes nothing; a message
that is not an event stays for the dead-letter queue; a pass that dies between acting and
deleting acts once when the message comes back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from controlplane.sim.clock import VirtualClock
from controlplane.sim.world import SimWorld
from tests.control.conftest import ListDemand, Loop, realtime_spec, tasks
from tests.control.test_daemon import RULES, desired, wait_for
from tests.control.test_daemon import daemon as make_daemon
from tests.support.api_client import submit as api_submit


@pytest.fixture
def world() -> Iterator[SimWorld]:
    with SimWorld(realtime_spec(RULES, 4)) as w:
        yield w


def _warning(instance: str, event_id: str = "ev-1") -> str:
    return json.dumps(
        {
            "version": "0",
            "id": event_id,
            "detail-type": "EC2 Spot Instance Interruption Warning",
            "source": "aws.ec2",
            "account": "123456789012",
            "time": "2026-11-30T12:00:00Z",
            "region": "us-east-1",
            "resources": [f"arn:aws:ec2:us-east-1b:instance/{instance}"],
            "detail": {"instance-id": instance, "instance-action": "terminate"},
        }
    )


def queue_world(world: SimWorld) -> tuple[Any, str, dict[str, object]]:
    """An SQS client, a new interruption queue's URL, and `aws` settings that read it."""
    sqs = world.session.client("sqs", endpoint_url=world.moto_url, region_name=world.region)
    url = sqs.create_queue(QueueName="cp-interruptions")["QueueUrl"]
    aws = {
        "region": world.region,
        "endpoint_url": world.moto_url,
        "state_table": "cp-state",
        "discovery_ttl_s": 1,
        "interruption_queue_url": url,
    }
    return sqs, url, aws


def _counts(sqs: Any, url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def _agent_of(world: SimWorld, task_id: str) -> tuple[str, str, str] | None:
    """(agent id, instance id, zone) of a running task."""
    with world.core.lock:
        for agent in world.core.agents.values():
            for task in agent.tasks.values():
                if task.task_id == task_id and task.state == "TASK_RUNNING":
                    attrs = agent.attributes
                    return agent.id, str(attrs["instance_id"]), str(attrs["zone"])
    return None


def test_a_spot_warning_moves_our_task_to_another_zone_and_is_deleted_after_acting(
    world: SimWorld,
) -> None:
    sqs, url, aws = queue_world(world)
    loop = {"interval_s": 3, "lease_ttl_s": 9, "lease_margin_s": 1}
    daemon = make_daemon(world, "d1", aws=aws, loop=loop).start()
    try:
        wait_for(lambda: daemon.not_accepting() is None, 15, "the leader to accept work")
        assert daemon.demand_server is not None and daemon.queue is not None
        queue, reconciler = daemon.queue, daemon.parts.reconciler
        assert reconciler.interruptions is not None
        reconciler.interruptions.visibility_s = 2  # a message not deleted comes back soon
        tasks = [
            {
                "id": f"t{i}",
                "job": "j",
                "resources": {"cpus": 3.0, "mem": 2048.0},
                "pool": "batch",
                "labels": {"duration_s": "600"},
            }
            for i in range(2)
        ]
        assert api_submit(daemon.demand_server.url, tasks)[0] == 201
        wait_for(lambda: all(_agent_of(world, f"t{i}") for i in range(2)), 30, "both running")
        where = _agent_of(world, "t0")
        assert where is not None
        agent, instance, zone = where

        # A pass that dies between acting and deleting: the message comes back, and the
        # second pass acts on it once (the kill and relaunch are not repeated).
        deletes: list[int] = []
        real_delete = reconciler.interruptions.delete

        def crash_once(messages: Any) -> None:
            deletes.append(len(messages))
            if len(deletes) == 1:
                raise RuntimeError("the leader died before deleting")
            real_delete(messages)

        reconciler.interruptions.delete = crash_once  # type: ignore[method-assign]
        started = time.monotonic()
        sqs.send_message(QueueUrl=url, MessageBody=_warning(instance))
        wait_for(lambda: _counts(sqs, url) == (0, 0), 30, "the message deleted")
        assert len(deletes) >= 2  # the first delete failed, a later pass deleted it
        with world.core.lock:  # deactivated at once (or, emptied, already gone)
            assert agent not in world.core.agents or not world.core.agents[agent].active

        def moved_off() -> bool:
            now = _agent_of(world, "t0")
            return now is not None and now[0] != agent

        wait_for(moved_off, 30, "t0 running elsewhere")
        assert time.monotonic() - started < 120  # within the warning's two minutes
        moved = _agent_of(world, "t0")
        assert moved is not None and moved[2] != zone  # replacement in another zone
        entry = queue.entry("t0")
        assert entry is not None and entry.relocations == 1 and entry.relaunches == 0
        assert entry.reasons[-1].startswith("relocated: spot interruption (terminate)")
        other = queue.entry("t1")
        assert other is not None and other.relocations == 0

        # A duplicate, an unknown instance and a message that is no event.
        before = sorted(desired(world).values())
        sqs.send_message(QueueUrl=url, MessageBody=_warning(instance))
        sqs.send_message(QueueUrl=url, MessageBody=_warning("i-0123456789abcdef0", "ev-2"))
        sqs.send_message(QueueUrl=url, MessageBody="{not json")
        wait_for(lambda: _counts(sqs, url)[0] == 0, 30, "the messages taken")
        time.sleep(4)  # a few passes
        assert queue.entry("t0").relocations == 1  # type: ignore[union-attr]
        assert sorted(desired(world).values()) == before
        # The bad one is never deleted: it cycles until the queue's redrive takes it.
        wait_for(lambda: sum(_counts(sqs, url)) == 1, 30, "only the bad message left")
        assert world.invariant_violations() == []
    finally:
        daemon.stop()


def test_an_unreadable_interruption_queue_does_not_stop_the_pass(world: SimWorld) -> None:
    """The queue adds to what a pass knows: a queue that does not exist (or SQS failing)
    is reported, and the pass plans and acts as it did before there was a queue."""
    missing = f"{world.moto_url}/123456789012/no-such-queue"
    loop = Loop(
        world,
        VirtualClock(1_800_000_000.0),
        ListDemand(),
        changes={
            "aws": {
                "region": world.region,
                "endpoint_url": world.moto_url,
                "state_table": "cp-state",
                "discovery_ttl_s": 1,
                "interruption_queue_url": missing,
            }
        },
    )
    loop.demand.tasks = tasks(2, cpus=3.0)
    result = loop.step()
    assert result.outcome == "ok", result.error
    assert sum(loop.desired().values()) == 2  # it still scaled up for the waiting work
    notes = [a for a in result.actions if a.kind == "interruption"]
    assert [a.outcome for a in notes] == ["failed"]
    assert notes[0].detail.startswith("unreadable: the pass goes on without it")
