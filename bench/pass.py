# ruff: noqa: N999 (the module is named for the command `python -m bench.pass`)
"""A whole pass: `python -m bench.pass AGENTS [TASKS_PER_AGENT] [PENDING] [--unprotected]`.

The embedded world (moto over HTTP, the Mesos emulator) holds AGENTS registered agents
(m5.2xlarge, three zones), TASKS_PER_AGENT (5) running tasks on each and PENDING (200)
tasks waiting; a Reconciler wired as the daemon wires it runs a cold pass (fresh parts:
nothing cached) and then steady passes (nothing changed in between). Each stage is timed
where the product spends it, product code only: observe Mesos (GET_STATE read and parse),
observe AWS (groups, instances), assemble (the snapshot), plan, act. Beside them, in the
same run, the reference: a bare `json.loads` of the same GET_STATE body. Peak RSS at the end.
Instances launch protected from scale-in (the Terraform module's default); with
`--unprotected` the cold pass also protects every busy one (~200 calls at 10,000 agents).
"""

from __future__ import annotations

import json
import multiprocessing
import resource
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import boto3
from botocore.endpoint import Endpoint

from controlplane.aws.pool_rules import AdapterSettings, PoolRules
from controlplane.config import Settings
from controlplane.control import reconcile
from controlplane.control.pass_reads import PassReads
from controlplane.control.wiring import build
from controlplane.mesos.event_stream import ClusterWatch, wait_fresh
from controlplane.mesos.watched import WatchedOperator
from controlplane.model import Task
from controlplane.sim.clock import VirtualClock, utc
from controlplane.sim.mesos_master.state import SimTask
from controlplane.sim.world import FAKE_KEY_ID, FAKE_SECRET, PoolSpec, SimWorld, WorldSpec

CLUSTER = "bench"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
RULES = PoolRules(min_idle=0, max_idle=0, consolidate=False)
START = 1_800_000_000.0


class Demand:
    """A fixed backlog (the pass's demand source)."""

    def __init__(self, tasks: list[Task]) -> None:
        self.tasks = tasks

    def pending(self) -> list[Task]:
        return list(self.tasks)


def _world(agents: int, protected: bool = True) -> WorldSpec:
    per_zone = -(-agents // len(ZONES))
    return WorldSpec(
        cluster=CLUSTER,
        zones=ZONES,
        pools=(PoolSpec(name="batch", instance_type="m5.2xlarge", max=per_zone + 10),),
        settings=AdapterSettings(cluster=CLUSTER, default_rules=RULES),
        boot_delay_s=0,
        max_completed_tasks=0,
        ec2_hostnames=False,  # moto's DescribeInstances is quadratic in the instances
        # Instances launch protected from scale-in, as the Terraform module launches them;
        # `--unprotected`: the cold pass protects every busy one (~200 calls at 10,000).
        protect_new_instances=protected,
    )


def _fill(world: SimWorld, agents: int, per_agent: int) -> None:
    """`agents` instances registered as agents, each running `per_agent` one-cpu tasks."""
    left = agents
    for i, zone in enumerate(ZONES):
        size = left // (len(ZONES) - i)
        left -= size
        for step in range(250, size + 250, 250):  # moto launches them all in one reply
            world.autoscaling.set_desired_capacity(
                AutoScalingGroupName=f"batch-{zone}", DesiredCapacity=min(step, size)
            )
    world.bridge.sync()
    core = world.core
    with core.lock:
        for n, agent in enumerate(sorted(core.agents.values(), key=lambda a: a.id)):
            for k in range(per_agent):
                tid = f"run-{n}-{k}"
                labels = {"job": f"svc-{n % 50}"}
                task = SimTask(
                    tid,
                    tid,
                    "fw-bench",
                    agent.id,
                    {"cpus": 1.0, "mem": 1024.0},
                    labels,
                    core.now(),
                    None,
                )
                core.launch(agent, task)
                task.state = "TASK_RUNNING"


def _settings(moto_url: str, mesos_address: str, region: str, tmp: Path) -> Settings:
    return Settings.model_validate(
        {
            "cluster": CLUSTER,
            "mesos": {"masters": [mesos_address], "timeout_s": 300, "refresh_passes": 1000},
            "aws": {
                "region": region,
                "endpoint_url": moto_url,
                "state_table": "bench-state",
                "discovery_ttl_s": 3600,
            },
            "loop": {"interval_s": 60, "lease_ttl_s": 600, "lease_margin_s": 1},
            "demand": {"access": {"tokens_file": str(_tokens(tmp))}},
            "default_rules": RULES.model_dump(),
        }
    )


def _tokens(tmp: Path) -> Path:
    path = tmp / "tokens"
    path.write_text("b" * 40 + "\n")
    path.chmod(0o600)
    return path


class Stages:
    """Seconds per stage of the pass being timed; a wait (a reply) is also charged to the
    stage it happened in, so the stage's own time is what is left."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.waited: dict[str, float] = defaultdict(float)
        self._open: list[str] = []

    def wrap(self, name: str, fn: Callable[..., Any], *, wait: bool = False) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            self._open.append(name)
            try:
                return fn(*args, **kwargs)
            finally:
                self._open.pop()
                spent = time.perf_counter() - started
                self.seconds[name] += spent
                if wait and self._open:
                    self.waited[self._open[-1]] += spent

        return timed

    def own(self) -> dict[str, float]:
        """Each stage's time less the waits inside it."""
        return {k: v - self.waited.get(k, 0.0) for k, v in self.seconds.items()}


#: Module functions of `reconcile` a pass calls by name (wrapped to time them).
_MODULE_STAGES = (("assemble", "assemble"), ("make_plan", "plan"))


@contextmanager
def _timed_stages(parts: Any, stages: Stages) -> Iterator[None]:
    """Time the pass's stages by wrapping the calls that make them (restored after)."""
    rec = parts.reconciler
    saved_module = {name: getattr(reconcile, name) for name, _ in _MODULE_STAGES}
    client = parts.operator  # the HTTP calls, whichever way the pass reads the cluster
    directory = rec.aws.observer.directory
    saved = (rec.mesos.agents, client._post, rec.aws.observer.observe, rec._act, rec.reads)
    saved_describe = directory.describe
    rec.reads = PassReads(concurrent=False)  # each read timed alone, not beside the others
    rec.mesos.agents = stages.wrap("observe Mesos", rec.mesos.agents)
    client._post = stages.wrap("Mesos reply", client._post, wait=True)
    rec.aws.observer.observe = stages.wrap("observe AWS", rec.aws.observer.observe)
    directory.describe = stages.wrap("observe AWS", directory.describe)
    rec._act = stages.wrap("act", rec._act)
    for name, stage in _MODULE_STAGES:
        setattr(reconcile, name, stages.wrap(stage, saved_module[name]))
    send = getattr(Endpoint, "_send")  # noqa: B009 (botocore's private hook, untyped)
    setattr(Endpoint, "_send", stages.wrap("AWS replies", send, wait=True))  # noqa: B010
    try:
        yield
    finally:
        setattr(Endpoint, "_send", send)  # noqa: B010
        rec.mesos.agents, client._post, rec.aws.observer.observe, rec._act, rec.reads = saved
        directory.describe = saved_describe
        for name, fn in saved_module.items():
            setattr(reconcile, name, fn)


def _reference(mesos_address: str) -> tuple[float, int]:
    """A bare json.loads of the GET_STATE body the pass reads (seconds, bytes), in a forked
    child: its memory is not the control plane's (the peak RSS reported is the passes')."""
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    child = multiprocessing.get_context("fork").Process(
        target=lambda: theirs.send(_reference_here(mesos_address)), daemon=True
    )
    child.start()
    got: tuple[float, int] = ours.recv()
    child.join(60)
    return got


def _reference_here(mesos_address: str) -> tuple[float, int]:
    request = urllib.request.Request(
        f"http://{mesos_address}/api/v1",
        data=b'{"type": "GET_STATE"}',
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as reply:
        body = reply.read()
    started = time.perf_counter()
    json.loads(body)
    return time.perf_counter() - started, len(body)


def _serve(agents: int, per_agent: int, protected: bool, conn: Connection) -> None:
    """The world, in a process of its own: serving it is not the product's time."""
    with SimWorld(_world(agents, protected), clock=VirtualClock(START)) as world:
        started = time.perf_counter()
        _fill(world, agents, per_agent)
        built = time.perf_counter() - started
        conn.send((world.moto_url, world.mesos_address, world.region, built))
        while (command := conn.recv()) != "stop":  # ("churn", n) until the benchmark is done
            _churn(world, command[1])
            conn.send("done")


def _churn(world: SimWorld, changes: int) -> None:
    """`changes` tasks end and as many start (on other agents): 2 x changes events."""
    core = world.core
    with core.lock:
        agents = sorted(core.agents.values(), key=lambda a: a.id)
        ending = [t for a in agents for t in list(a.tasks.values())][:changes]
        for task in ending:
            core.end_task(task, "TASK_FINISHED", None, "done")
        for n, task in enumerate(ending):
            agent = agents[(n * 7919) % len(agents)]
            tid = f"{task.task_id}+"
            fresh = SimTask(
                tid,
                tid,
                "fw-bench",
                agent.id,
                dict(task.resources),
                dict(task.labels),
                core.now(),
                None,
            )
            core.launch(agent, fresh)


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--unprotected"]
    protected = len(args) == len(sys.argv) - 1
    agents = int(args[0]) if args else 1000
    per_agent = int(args[1]) if len(args) > 1 else 5
    pending = int(args[2]) if len(args) > 2 else 200
    backlog = [
        Task.model_validate(
            {"id": f"p{i}", "job": f"p{i % 20}", "resources": {"cpus": 2.0, "mem": 4096.0}}
        )
        for i in range(pending)
    ]
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    world = multiprocessing.get_context("fork").Process(
        target=_serve, args=(agents, per_agent, protected, theirs), daemon=True
    )
    world.start()
    try:
        moto_url, mesos_address, region, built = ours.recv()
        print(
            f"world: {agents} agents, {agents * per_agent} running tasks, {pending} pending "
            f"(built in {built:.1f} s, in its own process)"
        )
        rows = _passes(moto_url, mesos_address, region, backlog, ours)
    finally:
        ours.send("stop")
        world.join(60)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    names = (
        "Mesos reply",
        "AWS replies",
        "observe Mesos",
        "observe AWS",
        "assemble",
        "plan",
        "act",
    )
    print(
        f"{'pass':11s} {'product':>8s} "
        + " ".join(f"{n:>13s}" for n in names)
        + f" {'json.loads ref':>15s} {'peak RSS':>9s}"
    )
    for label, total, seconds, ref, size, peak in rows:
        cells = " ".join(f"{seconds.get(n, 0.0):13.3f}" for n in names)
        product = total - seconds.get("Mesos reply", 0.0) - seconds.get("AWS replies", 0.0)
        print(
            f"{label:11s} {product:8.3f} {cells} {ref:15.3f} {peak:5.0f} MiB"
            f"   ({size / 1e6:.1f} MB body)"
        )
    print(
        "product = the whole pass less the replies' wait (the emulator building and sending "
        "GET_STATE, moto serving AWS calls: 'Mesos reply', 'AWS replies'); each stage is its "
        "product time (observe AWS and act less the AWS replies they waited for). "
        f"Peak RSS of the control plane's process: {rss:.0f} MiB (the column: the peak so "
        "far, after each pass)"
    )


#: Cold (fresh parts), steady on GET_STATE, steady on the event stream, and on the stream
#: with so many events (tasks ending and starting) applied since the pass before.
PASSES = ("cold", "steady", "steady", "events", "events", "events+200", "events+2000")


def _churned(world: Connection, watch: ClusterWatch, events: int) -> None:
    """Have the world make `events` events, and wait until the picture has them all."""
    want = watch.picture.events + events
    world.send(("churn", events // 2))
    world.recv()
    deadline = time.monotonic() + 300
    while watch.picture.events < want and time.monotonic() < deadline:
        time.sleep(0.01)


def _passes(
    moto_url: str, mesos_address: str, region: str, backlog: list[Task], world: Connection
) -> list[tuple[str, float, dict[str, float], float, int, float]]:
    """Cold (fresh parts, GET_STATE), steady on GET_STATE, then steady on the operator event
    stream's picture (the daemon's way), with so many events applied between passes."""
    clock = VirtualClock(START)
    session = boto3.Session(
        aws_access_key_id=FAKE_KEY_ID, aws_secret_access_key=FAKE_SECRET, region_name=region
    )
    with tempfile.TemporaryDirectory() as tmp:
        settings = _settings(moto_url, mesos_address, region, Path(tmp))
        parts = build(
            settings, demand=Demand(backlog), clock=lambda: utc(clock.now()), session=session
        )
        parts.store.create_table()
        watched, watch = parts.reconciler.mesos, parts.watch
        assert isinstance(watched, WatchedOperator) and watch is not None
        rows = []
        for label in PASSES:
            by_events = label.startswith("events")
            parts.reconciler.mesos = watched if by_events else parts.operator
            if by_events and not watch.running:
                watch.start()
                assert wait_fresh(watch, 600), "the event stream did not subscribe"
            if "+" in label:
                _churned(world, watch, int(label.split("+")[1]))
            lease = parts.store.acquire("bench", utc(clock.now()), 600)
            assert lease is not None
            stages = Stages()
            with _timed_stages(parts, stages):
                started = time.perf_counter()
                result = parts.reconciler.run_pass(lease)
                total = time.perf_counter() - started
            assert result.outcome == "ok", result.error
            del result  # as the daemon: a pass's snapshot does not outlive it
            if by_events:
                assert watched.source == "events"
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            ref, size = _reference(mesos_address)
            rows.append((label, total, stages.own(), ref, size, peak))
            clock.advance(60)
        watch.stop()
    return rows


if __name__ == "__main__":
    main()
