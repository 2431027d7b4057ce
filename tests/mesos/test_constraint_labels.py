"""A running task's hard unique_host and exclusive constraints, as the loop sees them.

Our framework labels what it launches; the operator API shows the labels; the snapshot's
agents carry `unique_host_jobs` and `exclusive`, so consolidation and relocation never count
a host the work may not share. Real pymesos against the emulator over loopback HTTP.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from controlplane.demand.queue import TaskQueue
from controlplane.demand.submission import Submission
from controlplane.mesos.event_stream import ClusterWatch, wait_fresh
from controlplane.mesos.observe import observe_agents
from controlplane.mesos.offers import task_info
from controlplane.mesos.operator_client import OperatorClient
from controlplane.model import ExclusiveConstraint, UniqueHostConstraint
from controlplane.sim.mesos_master import MesosMasterEmulator
from tests.mesos.conftest import Factory
from tests.support.mesos_calls import wait_for

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _sub(ident: str, job: str, cpus: float = 1.0, **kw: object) -> Submission:
    return Submission.model_validate(
        {
            "id": ident,
            "job": job,
            "resources": {"cpus": cpus, "mem": 256.0},
            "labels": {"duration_s": "30"},
            **kw,
        }
    )


def test_running_constraints_reach_the_snapshot_and_exclusive_hosts_stay_alone(
    emulator: MesosMasterEmulator, frameworks: Factory
) -> None:
    queue = TaskQueue()
    frameworks(queue)
    unique = [UniqueHostConstraint(kind="unique_host")]
    queue.submit([_sub("solo", "solo", constraints=[ExclusiveConstraint(kind="exclusive")])])
    wait_for(lambda: queue.state("solo") == "running", what="the exclusive task to run")
    queue.submit([_sub(f"u{i}", "u", constraints=unique) for i in range(2)])
    queue.submit([_sub(f"f{i}", "fill") for i in range(6)])  # fills the other two agents
    wait_for(lambda: queue.counts().get("running") == 9, what="nine tasks running")
    queue.submit([_sub("late", "late")])
    time.sleep(1.0)  # five allocation rounds of 0.2 s: offers of the exclusive host's room
    assert queue.state("late") == "queued"  # 3 cpus free there, but it is kept to itself

    client = OperatorClient(emulator.address)
    watch = ClusterWatch(client, retry_s=0.05).start()  # the daemon's way: the event stream
    try:
        assert wait_fresh(watch, 10)
        streamed = watch.picture.views()
        assert streamed is not None
        for views in (client.agents(), streamed):
            agents = observe_agents(views, NOW).agents
            solo = [a for a in agents if "solo" in a.jobs]
            assert len(solo) == 1 and solo[0].exclusive and solo[0].jobs == {"solo": 1}
            with_u = [a for a in agents if "u" in a.jobs]
            assert len(with_u) == 2 and all(a.unique_host_jobs == ["u"] for a in with_u)
            assert not any(a.exclusive for a in with_u) and len(agents) == 3
    finally:
        watch.stop()


def test_the_constraint_labels_say_what_the_constraints_say() -> None:
    sub = _sub(
        "t",
        "j",
        constraints=[
            UniqueHostConstraint(kind="unique_host"),
            ExclusiveConstraint(kind="exclusive", soft=True),
        ],
        labels={"exclusive": "true", "unique_host": "false", "team": "x"},
    )
    info = task_info(sub, "A-1", ("true",))
    labels = {lab["key"]: lab["value"] for lab in info["labels"]["labels"]}
    assert labels == {"job": "j", "team": "x", "unique_host": "true"}  # a soft one: no label
