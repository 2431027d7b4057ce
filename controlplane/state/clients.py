"""The DynamoDB client of the state store, configured so that `AwsCaller` alone retries."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3

from controlplane.aws.calls import client_config

if TYPE_CHECKING:  # type stubs are a dev dependency, absent from the Lambda bundle
    from mypy_boto3_dynamodb import DynamoDBClient


def make_dynamodb(
    region: str, endpoint_url: str | None = None, session: boto3.Session | None = None
) -> DynamoDBClient:
    session = session or boto3.Session(region_name=region)
    return session.client(
        "dynamodb", region_name=region, endpoint_url=endpoint_url, config=client_config()
    )
