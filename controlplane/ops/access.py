"""An API's access settings into what serves it: its token source, TLS files and limits.

Kept apart from `controlplane.control.wiring` because serving needs aiohttp, which the daemon has
and the scheduled-scaling Lambda (no server) does not.
"""

from __future__ import annotations

import boto3

from controlplane.aws.calls import AwsCaller
from controlplane.aws.secrets import SecretReader
from controlplane.config import ApiAccess, Settings
from controlplane.ops.serving import Limits, TlsFiles
from controlplane.ops.tokens import FileTokens, SecretTokens, TokenSource


def token_source(
    access: ApiAccess, settings: Settings, session: boto3.Session | None = None
) -> TokenSource:
    """The bearer tokens an API accepts (a file, or a Secrets Manager secret)."""
    if access.tokens_file is not None:
        return FileTokens(access.tokens_file)
    if access.tokens_secret is None:
        raise ValueError("no token source configured")
    aws = settings.aws
    reader = SecretReader(
        AwsCaller(),
        access.tokens_secret,
        region=aws.region,
        endpoint_url=aws.endpoint_url,
        session=session,
    )
    return SecretTokens(reader, f"secret {access.tokens_secret}", refresh_s=access.tokens_refresh_s)


def serving(access: ApiAccess, *, max_body_bytes: int) -> tuple[TlsFiles | None, Limits]:
    """TLS files and connection limits of an API from its access settings."""
    tls = (
        TlsFiles(access.tls_cert, access.tls_key)
        if access.tls_cert is not None and access.tls_key is not None
        else None
    )
    limits = Limits(
        max_connections=access.max_connections,
        connection_deadline_s=access.connection_timeout_s,
        max_body_bytes=max_body_bytes,
    )
    return tls, limits
