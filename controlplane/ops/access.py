"""Bearer tokens of an API, or of an upstream one, from a file or Secrets Manager.

No aiohttp here: the Lambda (which serves nothing) reads its upstream token through it
too. What serves an API (TLS files, limits) is `controlplane.ops.serving.from_access`.
"""

from __future__ import annotations

from pathlib import Path

import boto3

from controlplane.aws.calls import AwsCaller
from controlplane.aws.secrets import SecretReader
from controlplane.config import ApiAccess, Settings
from controlplane.ops.tokens import FileTokens, SecretTokens, TokenSource


def tokens_from(
    path: Path | None,
    secret: str | None,
    settings: Settings,
    *,
    refresh_s: float = 300.0,
    session: boto3.Session | None = None,
) -> TokenSource | None:
    """Bearer tokens from a file or a Secrets Manager secret (None: neither is given)."""
    if path is not None:
        return FileTokens(path)
    if secret is None:
        return None
    aws = settings.aws
    reader = SecretReader(
        AwsCaller(), secret, region=aws.region, endpoint_url=aws.endpoint_url, session=session
    )
    return SecretTokens(reader, f"secret {secret}", refresh_s=refresh_s)


def token_source(
    access: ApiAccess, settings: Settings, session: boto3.Session | None = None
) -> TokenSource:
    """The bearer tokens an API accepts (a file, or a Secrets Manager secret)."""
    source = tokens_from(
        access.tokens_file,
        access.tokens_secret,
        settings,
        refresh_s=access.tokens_refresh_s,
        session=session,
    )
    if source is None:
        raise ValueError("no token source configured")
    return source
