"""boto3 clients for the adapter, configured so that `AwsCaller` alone retries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3

from controlplane.aws import fast_xml
from controlplane.aws.calls import client_config

if TYPE_CHECKING:  # type stubs are a dev dependency, absent from the Lambda bundle
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ec2 import EC2Client


def make_clients(
    region: str, endpoint_url: str | None = None, session: boto3.Session | None = None
) -> tuple[AutoScalingClient, EC2Client]:
    """Auto Scaling and EC2 clients; `endpoint_url` points both at moto in tests and demos."""
    session = session or boto3.Session(region_name=region)
    config = client_config()
    autoscaling = session.client(
        "autoscaling", region_name=region, endpoint_url=endpoint_url, config=config
    )
    # Its replies hold every instance of the cluster, in XML, every pass.
    fast_xml.install(autoscaling)
    ec2 = session.client("ec2", region_name=region, endpoint_url=endpoint_url, config=config)
    return autoscaling, ec2


def make_sqs(
    region: str, endpoint_url: str | None = None, session: boto3.Session | None = None
) -> Any:
    """The SQS client of the interruption queue (long polls wait up to 20 s)."""
    session = session or boto3.Session(region_name=region)
    config = client_config(read_timeout_s=30.0)
    return session.client("sqs", region_name=region, endpoint_url=endpoint_url, config=config)
