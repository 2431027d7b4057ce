"""Configuration: defaults, then a TOML file, then `CONTROLPLANE_*` environment variables.

One `Settings` object describes a deployment: the cluster, the Mesos masters, AWS, the
state table, loop timings, pool rules, the ops port. Env wins over the file so that a
container can override one value (`CONTROLPLANE_DRY_RUN=true`,
`CONTROLPLANE_MESOS__MASTERS='["m1:5050","m2:5050"]'`) without rewriting the file. Unknown
keys are errors: a misspelt `max_idel` must not silently become the default.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from controlplane.aws.pool_rules import AdapterSettings, AdapterTimings, PoolRules
from controlplane.errors import InputError, problems
from controlplane.profiles import Profile

ENV_PREFIX = "CONTROLPLANE_"


class _Section(BaseModel):
    # No float of a deployment is infinite or NaN: `interval_s = inf` is a typo, not a plan.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class MesosConfig(_Section):
    """Where the masters are and how to speak to them."""

    #: Candidate masters (`host:port`, `http://host:port` or `https://host:port`, all of one
    #: scheme); the leader is found by redirect.
    masters: list[str] = Field(default_factory=lambda: ["127.0.0.1:5050"], min_length=1)
    principal: str | None = None
    #: The secret itself (local runs), or better `secret_arn`: where to read it at start
    #: (a Secrets Manager secret, or `arn:aws:ssm:...:parameter/...` SecureString).
    secret: SecretStr | None = None
    secret_arn: str | None = Field(default=None, min_length=1)
    #: CA bundle (PEM) that verifies `https://` masters; None: the system's roots.
    ca_bundle: Path | None = None
    framework_name: str = Field(default="controlplane", min_length=1)
    #: Unix user tasks run as; None means the daemon's own user.
    user: str | None = None
    #: How long Mesos keeps our tasks running while no scheduler is connected.
    failover_timeout_s: float = Field(default=7 * 86400.0, gt=0)
    refuse_seconds: float = Field(default=30.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    attempts: int = Field(default=5, ge=1)
    #: The daemon keeps its picture of the cluster from the operator event stream
    #: (SUBSCRIBE) instead of reading GET_STATE every pass (docs/mesos.md); every
    #: `refresh_passes`-th pass reads GET_STATE and subscribes again, for what no event says.
    events: bool = True
    refresh_passes: int = Field(default=10, ge=1, le=10_000)

    def credentials(self) -> tuple[str, str] | None:
        """(principal, secret) for HTTP basic auth when the secret is given inline, or
        None (`controlplane.control.wiring.mesos_credentials` reads `secret_arn`)."""
        if self.principal is None or self.secret is None:
            return None
        return self.principal, self.secret.get_secret_value()

    @property
    def https(self) -> bool:
        return any(m.lower().startswith("https://") for m in self.masters)

    @model_validator(mode="after")
    def _credentials(self) -> MesosConfig:
        secrets = (self.secret is not None) + (self.secret_arn is not None)
        if secrets > 1:
            raise ValueError("give secret or secret_arn, not both")
        if (self.principal is None) != (secrets == 0):
            raise ValueError("give both principal and secret (or secret_arn), or neither")
        schemes = {m.split("://", 1)[0].lower() for m in self.masters if "://" in m}
        if not schemes <= {"http", "https"}:
            raise ValueError(f"masters: unknown scheme {sorted(schemes - {'http', 'https'})[0]!r}")
        if ("https" in schemes and len(schemes) > 1) or (
            "https" in schemes and any("://" not in m for m in self.masters)
        ):
            raise ValueError("masters: all https:// or none")
        return self


class AwsConfig(_Section, AdapterTimings):
    """AWS region and endpoint, the state table, and the adapter's timings."""

    region: str = Field(default="us-east-1", min_length=1)
    #: Point every client at another endpoint (moto in tests and the demo).
    endpoint_url: str | None = None
    state_table: str = Field(default="controlplane-state", min_length=3, max_length=255)
    #: The SQS queue EventBridge feeds with Spot interruption warnings, rebalance
    #: recommendations, scheduled changes and instance state changes (Terraform makes it);
    #: None: not read. The leader takes at most `interruptions_per_pass` messages a pass.
    interruption_queue_url: str | None = Field(default=None, min_length=1, max_length=2048)
    interruptions_per_pass: int = Field(default=100, ge=1, le=1000)


class LoopConfig(_Section):
    """How often a pass runs and how leadership is held."""

    interval_s: float = Field(default=30.0, gt=0, le=86400)
    #: A leader that has not renewed its lease for this long is replaced.
    lease_ttl_s: float = Field(default=60.0, ge=5)
    #: A pass acts only while its lease has at least this much time left.
    lease_margin_s: float = Field(default=5.0, ge=0)
    #: Minimum time an agent stays deactivated (and empty) before its instance goes.
    drain_settle_s: float = Field(default=0.0, ge=0)
    #: A drain intent whose instance is gone is forgotten once its agent leaves Mesos, or
    #: after this long (Mesos may keep a dead agent registered for its health-check timeout).
    forget_terminated_after_s: float = Field(default=900.0, gt=0, allow_inf_nan=False)
    #: An instance still without a Mesos agent this long after it was first seen in its
    #: group is terminated with decrement and its zone backed off.
    registration_deadline_s: float = Field(default=900.0, gt=0, le=86400, allow_inf_nan=False)
    #: More than this share of a pool's instances without an agent (and more than
    #: `ok_unregistered`) halts the pool's scale-down: Mesos forgot them, they are not idle.
    max_unregistered_share: float = Field(default=0.45, gt=0, le=1, allow_inf_nan=False)
    ok_unregistered: int = Field(default=3, ge=0)

    @model_validator(mode="after")
    def _lease(self) -> LoopConfig:
        if self.lease_margin_s * 2 >= self.lease_ttl_s:
            raise ValueError(
                f"lease_margin_s {self.lease_margin_s} must be less than half of "
                f"lease_ttl_s {self.lease_ttl_s}"
            )
        return self


class ApiAccess(_Section):
    """Who may call a network-facing API, and over what: bearer tokens and optional TLS.

    Tokens (one per line, at least 32 characters) come from a file only its owner may read,
    re-read when it changes, or from a Secrets Manager secret, re-read every
    `tokens_refresh_s`; several may be valid at once (rotation: add, move clients, remove).
    """

    tokens_file: Path | None = None
    #: Secrets Manager secret id or ARN whose SecretString holds the tokens.
    tokens_secret: str | None = Field(default=None, min_length=1)
    tokens_refresh_s: float = Field(default=300.0, gt=0, le=86400, allow_inf_nan=False)
    #: PEM certificate chain and key: both serve HTTPS, neither plain HTTP.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: Open connections at once; one beyond is closed without a reply.
    max_connections: int = Field(default=256, ge=1, le=65536)
    #: A connection is closed this long after it opened (slow clients cannot hold it).
    connection_timeout_s: float = Field(default=30.0, gt=0, le=3600, allow_inf_nan=False)

    @model_validator(mode="after")
    def _pairs(self) -> ApiAccess:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key, or neither")
        if self.tokens_file is not None and self.tokens_secret is not None:
            raise ValueError("give tokens_file or tokens_secret, not both")
        return self

    @property
    def has_tokens(self) -> bool:
        return self.tokens_file is not None or self.tokens_secret is not None


class DemandConfig(_Section):
    """Where pending work comes from.

    `framework`: this daemon is the Mesos framework that runs submitted tasks (`POST
    /v1/tasks` on `listen_port`, bearer tokens required). `http`: another scheduler
    publishes its pending tasks at `url` (`{"pending": [Task...]}`) and this daemon only
    sizes the fleet.
    """

    source: Literal["framework", "http"] = "framework"
    url: str | None = None
    #: A file, or a Secrets Manager secret, whose first token is sent to `url` as
    #: `Authorization: Bearer` (another control plane's task API requires one).
    url_token_file: Path | None = None
    url_token_secret: str | None = Field(default=None, min_length=1)
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=8080, ge=0, le=65535)
    access: ApiAccess = Field(default_factory=ApiAccess)
    #: Queued tasks at most; a submission beyond it gets 429 with Retry-After.
    max_queued: int = Field(default=10_000, ge=1, le=1_000_000)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    #: The commands a task may run, by name: each a fixed argument vector, run without a
    #: shell. A submission names one (`command`), or runs `default_command`.
    commands: dict[str, list[str]] = Field(default_factory=dict)
    default_command: str | None = None
    #: Launches Mesos loses (LOST, GONE, DROPPED) that are retried before a task is given up.
    max_relaunches: int = Field(default=3, ge=0, le=100)

    @model_validator(mode="after")
    def _url(self) -> DemandConfig:
        if self.source == "http" and not self.url:
            raise ValueError("source 'http' needs url")
        for name, argv in self.commands.items():
            if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name):
                raise ValueError(f"commands: {name!r} is not a command name ([A-Za-z0-9._-])")
            if not argv or not all(isinstance(a, str) and a and "\0" not in a for a in argv):
                raise ValueError(f"commands.{name}: give a non-empty list of arguments")
        if self.default_command is not None and self.default_command not in self.commands:
            raise ValueError(f"default_command {self.default_command!r} is not in commands")
        return self


class OpsConfig(_Section):
    """The `/metrics` and `/healthz` port, and logging.

    On a loopback address the port is open to local processes (a Prometheus agent on the
    host). Anywhere else `/metrics` needs a bearer token from `access`; `/healthz` stays
    open for load balancers and says only whether this process is healthy.
    """

    host: str = "127.0.0.1"
    port: int = Field(default=9102, ge=0, le=65535)
    access: ApiAccess = Field(default_factory=ApiAccess)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_logs: bool = True

    @model_validator(mode="after")
    def _reachable(self) -> OpsConfig:
        if not is_loopback(self.host) and not self.access.has_tokens:
            raise ValueError(
                f"host {self.host!r} is reachable from the network: set access.tokens_file "
                "or access.tokens_secret, or bind 127.0.0.1"
            )
        return self


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RecordConfig(_Section):
    """Keep each pass's snapshot and plan as JSON, replayable with `controlplane plan`."""

    dir: Path | None = None
    keep: int = Field(default=200, ge=1)


class ScheduleConfig(_Section):
    """Time-based pool floors (controlplane/profiles.py), applied by the scheduled Lambda."""

    profiles: list[Profile] = Field(default_factory=list)
    #: After setting the floors, run one reconcile pass if no daemon holds the lease.
    run_pass: bool = True

    @model_validator(mode="after")
    def _unique(self) -> ScheduleConfig:
        names = [p.name for p in self.profiles]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"profile name {dup[0]!r} is used more than once")
        return self


class Settings(BaseSettings):
    """A whole deployment's configuration; every key is in examples/controlplane.toml."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )

    cluster: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    dry_run: bool = False
    mesos: MesosConfig = Field(default_factory=MesosConfig)
    aws: AwsConfig = Field(default_factory=AwsConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    demand: DemandConfig = Field(default_factory=DemandConfig)
    ops: OpsConfig = Field(default_factory=OpsConfig)
    record: RecordConfig = Field(default_factory=RecordConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    default_rules: PoolRules = Field(default_factory=PoolRules)
    pools: dict[str, PoolRules] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _rules(self) -> Settings:
        for name, rules in [("default_rules", self.default_rules), *self.pools.items()]:
            if rules.min_idle > rules.max_idle:
                where = name if name == "default_rules" else f"pools.{name}"
                raise ValueError(
                    f"{where}: min_idle {rules.min_idle} exceeds max_idle {rules.max_idle}"
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: explicit arguments, then env, then the TOML file.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    def daemon_problems(self) -> list[str]:
        """What stops this configuration from running the daemon (beyond field checks)."""
        demand = self.demand
        if demand.source == "framework" and not demand.access.has_tokens:
            return [
                "demand.access: the daemon serves the task API (source 'framework'): set "
                "tokens_file or tokens_secret (README: 'The task API')"
            ]
        return []

    def adapter(self) -> AdapterSettings:
        """The AWS adapter's settings (cluster, pool rules, timings)."""
        return AdapterSettings(
            cluster=self.cluster,
            default_rules=self.default_rules,
            pools=self.pools,
            **self.aws.timings(),
        )


class ConfigError(InputError):
    """A configuration that does not validate; `problems` lists each as `where: what`."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        plural = "s" if len(problems) != 1 else ""
        super().__init__(f"{source}: {len(problems)} problem{plural}: " + "; ".join(problems))


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Defaults <- TOML file at `path` <- environment <- `overrides`; ConfigError if invalid."""
    source = str(path) if path is not None else "configuration"
    if path is not None:
        _check_toml(Path(path))
    unknown = unknown_env(os.environ)
    if unknown:
        raise ConfigError("environment", [f"{name}: unknown setting" for name in unknown])
    file_cls: type[Settings] = type(
        "FileSettings",
        (Settings,),
        {"model_config": {**Settings.model_config, "toml_file": path}},
    )
    try:
        return file_cls(**overrides)
    except ValidationError as error:
        raise ConfigError(source, problems(error)) from None
    except SettingsError as error:  # an env value that is not the JSON its field needs
        field = str(error).split('"')[1] if '"' in str(error) else "?"
        prefix = f"{ENV_PREFIX}{field.upper()}"
        names = sorted(n for n in os.environ if n.upper().startswith(prefix)) or [prefix]
        raise ConfigError(
            "environment",
            [f"{', '.join(names)}: not valid JSON for {field} ({error.__cause__})"],
        ) from None


def env_names(model: type[BaseModel] = Settings, prefix: str = ENV_PREFIX) -> set[str]:
    """Every `CONTROLPLANE_*` name a setting can be given by (nested with `__`)."""
    out: set[str] = set()
    for name, info in model.model_fields.items():
        full = f"{prefix}{name.upper()}"
        out.add(full)
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            out |= env_names(kind, f"{full}__")
    return out


def unknown_env(environ: Mapping[str, str]) -> list[str]:
    """`CONTROLPLANE_*` variables that name no setting (a typo would silently do nothing).

    Below a mapping-valued setting (pools, commands) any key is a name, so those pass."""
    known = env_names()
    open_ended = {f"{ENV_PREFIX}POOLS", f"{ENV_PREFIX}DEMAND__COMMANDS"}
    out = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        if any(upper.startswith(f"{o}__") for o in open_ended | {n for n in known if _free(n)}):
            continue
        out.append(name)
    return out


def _free(name: str) -> bool:
    """A rules section, where every PoolRules field is a valid continuation."""
    return name in {f"{ENV_PREFIX}DEFAULT_RULES"}


def _check_toml(path: Path) -> None:
    """Read errors and TOML syntax errors name the file (pydantic-settings would not)."""
    try:
        tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot read: {exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None
    except RecursionError:
        raise ConfigError(str(path), ["not valid TOML: nested too deeply"]) from None
