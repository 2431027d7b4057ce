"""Secrets by reference: read from Secrets Manager and SSM (moto over HTTP) at run time,
the Mesos secret never in configuration; `https://` masters verified, never downgraded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web

from controlplane.aws.calls import AwsCaller
from controlplane.aws.secrets import SecretReader
from controlplane.config import ConfigError, Settings, load_settings
from controlplane.control.wiring import mesos_credentials
from controlplane.mesos.operator_client import OperatorClient
from controlplane.mesos.replies import MesosError
from controlplane.ops.serving import HttpService
from controlplane.ops.tokens import SecretTokens, TokenError
from tests.aws.conftest import _SESSION as SESSION
from tests.support.api_client import TOKEN
from tests.support.tls import self_signed


def _reader(moto_url: str, secret_id: str) -> SecretReader:
    return SecretReader(
        AwsCaller(), secret_id, region="us-east-1", endpoint_url=moto_url, session=SESSION
    )


def test_the_mesos_secret_is_read_from_its_arn(moto_url: str) -> None:
    sm = SESSION.client("secretsmanager", endpoint_url=moto_url)
    arn = sm.create_secret(Name="mesos", SecretString="s3cret\n")["ARN"]
    ssm = SESSION.client("ssm", endpoint_url=moto_url)
    ssm.put_parameter(Name="/cp/mesos", Value="p4ram", Type="SecureString")
    for secret_id, value in ((arn, "s3cret"), ("ssm:/cp/mesos", "p4ram")):
        settings = Settings.model_validate(
            {
                "cluster": "c",
                "mesos": {"principal": "cp", "secret_arn": secret_id},
                "aws": {"endpoint_url": moto_url},
            }
        )
        assert settings.mesos.credentials() is None  # nothing secret in the settings
        assert mesos_credentials(settings, AwsCaller(), SESSION) == ("cp", value)


def test_api_tokens_from_a_secret_rotate_on_refresh(moto_url: str) -> None:
    sm = SESSION.client("secretsmanager", endpoint_url=moto_url)
    sm.create_secret(Name="tokens", SecretString=f"{TOKEN}\n")
    now = [0.0]
    tokens = SecretTokens(
        _reader(moto_url, "tokens"), "secret tokens", refresh_s=60, clock=lambda: now[0]
    )
    assert tokens.tokens() == (TOKEN.encode(),)
    sm.put_secret_value(SecretId="tokens", SecretString="n" * 40)
    assert tokens.tokens() == (TOKEN.encode(),)  # cached until the refresh
    now[0] = 61
    assert tokens.tokens() == (b"n" * 40,)
    sm.put_secret_value(SecretId="tokens", SecretString="short")
    now[0] = 122
    assert tokens.tokens() == (b"n" * 40,)  # a bad rotation keeps the last good tokens
    with pytest.raises(TokenError, match="secret missing"):
        SecretTokens(_reader(moto_url, "missing"), "secret missing")


def test_mesos_settings_refuse_mixed_schemes_and_two_secrets() -> None:
    with pytest.raises(ConfigError, match="all https:// or none"):
        load_settings(None, cluster="c", mesos={"masters": ["https://a:5050", "b:5050"]})
    with pytest.raises(ConfigError, match="secret or secret_arn, not both"):
        load_settings(
            None,
            cluster="c",
            mesos={"principal": "p", "secret": "s", "secret_arn": "arn:aws:ssm:x"},
        )


def test_an_https_master_is_spoken_to_over_verified_tls(tmp_path: Path) -> None:
    seen: list[str | None] = []

    async def operator(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        body = {"type": "GET_AGENTS", "get_agents": {"agents": []}}
        return web.Response(text=json.dumps(body), content_type="application/json")

    def routes(app: web.Application) -> None:
        app.router.add_post("/api/v1", operator)

    tls = self_signed(tmp_path, "master")
    with HttpService(routes, name="fake-master", tls=tls) as master:
        url = f"https://{master.address}"
        client = OperatorClient(url, credentials=("cp", "s3cret"), ca_bundle=tls.cert)
        assert client.agents_only() == []
        assert seen == ["Basic Y3A6czNjcmV0"]  # the credentials went, over TLS
        other = self_signed(tmp_path, "other")  # a CA that did not sign the master's certificate
        untrusting = OperatorClient(url, attempts=1, ca_bundle=other.cert)
        with pytest.raises(MesosError, match="certificate"):
            untrusting.agents_only()
        assert len(seen) == 1  # nothing was sent to an unverified master


def test_the_framework_driver_refuses_https_masters_rather_than_downgrade(
    tmp_path: Path,
) -> None:
    from controlplane.control.daemon import Daemon  # noqa: PLC0415 (pymesos: the framework extra)
    from tests.support.api_client import token_file  # noqa: PLC0415

    settings = Settings.model_validate(
        {
            "cluster": "c",
            "mesos": {"masters": ["https://m1:5050"]},
            "demand": {"access": {"tokens_file": str(token_file(tmp_path))}},
        }
    )
    with pytest.raises(ConfigError, match="plain HTTP only"):
        Daemon(settings, session=SESSION)
