"""Build the parts of a control plane from `Settings`: clients, adapters, store, reconciler.

Kept apart from the daemon so that `controlplane snapshot`, `run --once`, the daemon and
the Lambda all assemble the same reconciler the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import boto3
from prometheus_client import CollectorRegistry

from controlplane.aws.calls import AwsCaller, AwsMetrics
from controlplane.aws.clients import make_clients, make_sqs
from controlplane.aws.interruption_queue import InterruptionQueue
from controlplane.aws.observation import AwsObserver
from controlplane.aws.secrets import SecretReader
from controlplane.config import Settings
from controlplane.control.pass_files import PassRecorder
from controlplane.control.reconcile import (
    AwsAccess,
    PassMetrics,
    PassOptions,
    PassResult,
    Reconciler,
)
from controlplane.demand import DemandSource
from controlplane.demand.http_source import HttpDemandSource
from controlplane.demand.queue import TaskQueue
from controlplane.mesos.event_stream import ClusterWatch
from controlplane.mesos.operator_client import OperatorClient
from controlplane.mesos.watched import WatchedOperator
from controlplane.ops.access import tokens_from
from controlplane.state import StateStore
from controlplane.state.clients import make_dynamodb


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Parts:
    """Everything a pass needs, built once per process."""

    settings: Settings
    registry: CollectorRegistry
    caller: AwsCaller
    store: StateStore
    operator: OperatorClient
    reconciler: Reconciler
    #: (principal, secret) for Mesos, read once at start.
    credentials: tuple[str, str] | None = None
    #: The operator event stream's picture of the cluster (the daemon runs it).
    watch: ClusterWatch | None = None


def default_demand(settings: Settings) -> DemandSource:
    """The demand a one-shot command reads: the `http` source, or, for `framework`, this
    process's own queue, which is empty (the daemon's queue lives in the daemon, which
    holds the lease while it runs)."""
    if settings.demand.source == "http":
        return http_demand(settings)
    return TaskQueue()


def http_demand(settings: Settings) -> HttpDemandSource:
    """The `http` demand source, with its bearer token when one is configured."""
    demand = settings.demand
    assert demand.url is not None  # checked by DemandConfig
    source = tokens_from(demand.url_token_file, demand.url_token_secret, settings)
    token = None if source is None else source.tokens()[0].decode("ascii")
    return HttpDemandSource(demand.url, token=token)


def build(
    settings: Settings,
    *,
    demand: DemandSource | None = None,
    registry: CollectorRegistry | None = None,
    metrics: PassMetrics | None = None,
    clock: Callable[[], datetime] = utc_now,
    dry_run: bool | None = None,
    session: boto3.Session | None = None,
    rng: random.Random | None = None,
) -> Parts:
    """Wire a reconciler; `demand` defaults to `default_demand(settings)`."""
    registry = registry if registry is not None else CollectorRegistry()
    dry = settings.dry_run if dry_run is None else dry_run
    aws = settings.aws
    autoscaling, ec2 = make_clients(aws.region, aws.endpoint_url, session)
    aws_metrics = AwsMetrics(registry)
    caller = AwsCaller(metrics=aws_metrics, dry_run=dry)
    # The state store always writes (the lease must work in dry-run too); the reconcile
    # pass itself stores nothing when dry.
    store_caller = AwsCaller(metrics=aws_metrics)
    dynamodb = make_dynamodb(aws.region, aws.endpoint_url, session)
    store = StateStore(store_caller, dynamodb, aws.state_table, settings.cluster)
    adapter = settings.adapter()
    observer = AwsObserver(caller, autoscaling, ec2, adapter, rng or random.Random())
    mesos = settings.mesos
    credentials = mesos_credentials(settings, caller, session)
    operator = OperatorClient(
        mesos.masters,
        timeout_s=mesos.timeout_s,
        attempts=mesos.attempts,
        registry=registry,
        credentials=credentials,
        ca_bundle=mesos.ca_bundle,
    )
    recorder = (
        PassRecorder(settings.record.dir, settings.record.keep)
        if settings.record.dir is not None
        else None
    )
    options = PassOptions(
        dry_run=dry,
        lease_margin_s=settings.loop.lease_margin_s,
        drain_settle_s=settings.loop.drain_settle_s,
        forget_terminated_after_s=settings.loop.forget_terminated_after_s,
        registration_deadline_s=settings.loop.registration_deadline_s,
        max_unregistered_share=settings.loop.max_unregistered_share,
        ok_unregistered=settings.loop.ok_unregistered,
    )
    interruptions = None
    if aws.interruption_queue_url is not None:
        sqs = make_sqs(aws.region, aws.endpoint_url, session)
        interruptions = InterruptionQueue(
            caller, sqs, aws.interruption_queue_url, max_per_pass=aws.interruptions_per_pass
        )
    # The event stream is the daemon's (it starts the watch); one pass alone reads GET_STATE.
    watch = ClusterWatch(operator) if mesos.events else None
    reconciler = Reconciler(
        aws=AwsAccess(caller, autoscaling, observer, adapter),
        mesos=operator if watch is None else WatchedOperator(operator, watch, mesos.refresh_passes),
        demand=demand if demand is not None else default_demand(settings),
        store=store,
        options=options,
        clock=clock,
        recorder=recorder,
        metrics=metrics,
        interruptions=interruptions,
    )
    return Parts(settings, registry, caller, store, operator, reconciler, credentials, watch)


def mesos_credentials(
    settings: Settings, caller: AwsCaller, session: boto3.Session | None = None
) -> tuple[str, str] | None:
    """(principal, secret) for the masters: inline, or read once from `secret_arn`."""
    mesos = settings.mesos
    if mesos.principal is None or mesos.secret_arn is None:
        return mesos.credentials()
    aws = settings.aws
    reader = SecretReader(
        caller, mesos.secret_arn, region=aws.region, endpoint_url=aws.endpoint_url, session=session
    )
    return mesos.principal, reader().strip()


@dataclass(frozen=True)
class LeaderElsewhere:
    """Another control plane holds the lease: this one did not act."""

    holder: str


def one_pass(parts: Parts, holder: str, now: datetime) -> PassResult | LeaderElsewhere:
    """Take the lease, run exactly one pass, release the lease (`run --once`, the Lambda)."""
    store = parts.store
    lease = store.acquire(holder, now, parts.settings.loop.lease_ttl_s)
    if lease is None:
        leader = store.leader()
        return LeaderElsewhere("another control plane" if leader is None else leader.holder)
    try:
        return parts.reconciler.run_pass(lease)
    finally:
        store.release(lease)
