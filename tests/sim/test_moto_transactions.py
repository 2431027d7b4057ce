"""The world's moto fixes, over real HTTP: one table copy per transaction with the same
answers, and request ids that do not move the seeded ids of what moto creates."""

from __future__ import annotations

import copy
import urllib.request
from collections.abc import Iterator
from typing import Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models.table import Table
from moto.server import ThreadedMotoServer

from controlplane.sim import moto_request_ids, moto_transactions


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _api(url: str, call: str) -> None:
    request = urllib.request.Request(f"{url}/moto-api/{call}", method="POST")
    with urllib.request.urlopen(request, timeout=10) as reply:
        reply.read()


def _client(url: str, service: str) -> Any:
    return boto3.client(
        cast(Any, service),  # one of boto3's literal service names
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def dynamodb(moto_url: str) -> Any:
    assert moto_transactions.install() and moto_transactions.install()  # idempotent
    _api(moto_url, "reset")
    client = _client(moto_url, "dynamodb")
    client.create_table(
        TableName="t",
        KeySchema=[
            {"AttributeName": "c", "KeyType": "HASH"},
            {"AttributeName": "i", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "c", "AttributeType": "S"},
            {"AttributeName": "i", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def _put(name: str, value: str) -> dict[str, Any]:
    item = {"c": {"S": "a"}, "i": {"S": name}, "v": {"S": value}}
    return {"Put": {"TableName": "t", "Item": item}}


def _items(client: Any) -> dict[str, str]:
    reply = client.query(
        TableName="t",
        KeyConditionExpression="c = :c",
        ExpressionAttributeValues={":c": {"S": "a"}},
    )
    return {i["i"]["S"]: i["v"]["S"] for i in reply["Items"]}


def test_a_transaction_copies_each_table_once_and_applies_every_member(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(20):
        dynamodb.put_item(
            TableName="t", Item={"c": {"S": "a"}, "i": {"S": f"x{n}"}, "v": {"S": "0"}}
        )
    copies = []
    real = copy.deepcopy

    def counting(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            copies.append(value.name)
        return real(value, memo)

    monkeypatch.setattr(copy, "deepcopy", counting)
    dynamodb.transact_write_items(TransactItems=[_put(f"y{n}", "1") for n in range(6)])
    assert copies == ["t"]  # moto alone takes one per member: six
    assert len(_items(dynamodb)) == 26


def test_a_cancelled_transaction_still_leaves_the_table_as_it_was(dynamodb: Any) -> None:
    dynamodb.put_item(TableName="t", Item={"c": {"S": "a"}, "i": {"S": "keep"}, "v": {"S": "old"}})
    check = {
        "ConditionCheck": {
            "TableName": "t",
            "Key": {"c": {"S": "a"}, "i": {"S": "keep"}},
            "ConditionExpression": "v = :v",
            "ExpressionAttributeValues": {":v": {"S": "other"}},
        }
    }
    members = [_put("new1", "1"), _put("new2", "2"), check]
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=members)
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in raised.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    assert _items(dynamodb) == {"keep": "old"}  # the two puts before the check: rolled back
    dynamodb.transact_write_items(TransactItems=[_put("keep", "new"), _put("new1", "1")])
    assert _items(dynamodb) == {"keep": "new", "new1": "1"}


def test_reads_do_not_move_the_ids_of_what_moto_creates_next(moto_url: str) -> None:
    """Request ids come from a generator of their own: a seeded world's instance ids (and
    so a replay's tie-breaks) do not depend on how many calls came before."""
    assert moto_request_ids.install() and moto_request_ids.install()
    ec2 = _client(moto_url, "ec2")

    def next_vpc(reads: int) -> str:
        _api(moto_url, "reset")
        ec2.describe_vpcs()  # the reset backend is rebuilt (drawing ids) on first use
        _api(moto_url, "seed?a=7")
        for _ in range(reads):
            ec2.describe_vpcs()
        return str(ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"])

    assert next_vpc(0) == next_vpc(5)
