"""A state store on moto in server mode, a fresh table per test."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto.server import ThreadedMotoServer

from controlplane.aws.calls import AwsCaller, AwsMetrics
from controlplane.state import StateStore
from controlplane.state.clients import make_dynamodb

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
_SESSION = boto3.Session(
    region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def make_store(url: str, cluster: str = "c1", table: str = "state") -> StateStore:
    caller = AwsCaller(metrics=AwsMetrics(), sleep=lambda _s: None)
    return StateStore(caller, make_dynamodb("us-east-1", url, _SESSION), table, cluster)


@pytest.fixture
def store(moto_url: str) -> StateStore:
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as reply:
        reply.read()
    s = make_store(moto_url)
    s.create_table()
    return s
