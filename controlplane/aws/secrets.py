"""Secrets read at run time from AWS Secrets Manager or an SSM SecureString parameter.

Secrets never travel in configuration files or user data: the configuration names where
the secret lives (an ARN or name), the process's role may read only that, and the value is
read when needed. `arn:aws:ssm:...:parameter/NAME` (or `ssm:NAME`) is an SSM parameter;
anything else is a Secrets Manager secret id or ARN.
"""

from __future__ import annotations

import boto3

from controlplane.aws.calls import AwsCaller, client_config
from controlplane.aws.errors import AwsError


class SecretReader:
    """Reads one secret's text; every call reads it anew (callers cache)."""

    def __init__(
        self,
        caller: AwsCaller,
        secret_id: str,
        *,
        region: str,
        endpoint_url: str | None = None,
        session: boto3.Session | None = None,
    ) -> None:
        self.caller = caller
        self.secret_id = secret_id
        session = session or boto3.Session(region_name=region)
        self._ssm = secret_id.startswith(("arn:aws:ssm:", "ssm:"))
        self._client = session.client(
            "ssm" if self._ssm else "secretsmanager",
            region_name=region,
            endpoint_url=endpoint_url,
            config=client_config(),
        )

    def __call__(self) -> str:
        if self._ssm:
            name = self.secret_id.removeprefix("ssm:")  # GetParameter takes a name or an ARN
            reply = self.caller.read(self._client, "GetParameter", Name=name, WithDecryption=True)
            value = reply.get("Parameter", {}).get("Value")
        else:
            reply = self.caller.read(self._client, "GetSecretValue", SecretId=self.secret_id)
            value = reply.get("SecretString")
        if not isinstance(value, str) or not value:
            raise AwsError(f"secret {self.secret_id}: no text value")
        return value
