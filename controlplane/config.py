"""Configuration: defaults, then a TOML file, then `CONTROLPLANE_*` environment variables.

One `Settings` object describes a deployment: the cluster, the Mesos masters, AWS, the
state table, loop timings, pool rules, the ops port. Env wins over the file so that a
container can override one value (`CONTROLPLANE_DRY_RUN=true`,
`CONTROLPLANE_MESOS__MASTERS='["m1:5050","m2:5050"]'`) without rewriting the file. Unknown
keys are errors: a misspelt `max_idel` must not silently become the default.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from controlplane.aws.pool_rules import AdapterSettings, PoolRules
from controlplane.errors import InputError
from controlplane.profiles import Profile

ENV_PREFIX = "CONTROLPLANE_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MesosConfig(_Section):
    """Where the masters are and how to speak to them."""

    #: Candidate masters (`host:port` or `http://host:port`); the leader is found by redirect.
    masters: list[str] = Field(default_factory=lambda: ["127.0.0.1:5050"], min_length=1)
    principal: str | None = None
    secret: SecretStr | None = None
    framework_name: str = Field(default="controlplane", min_length=1)
    #: Unix user tasks run as; None means the daemon's own user.
    user: str | None = None
    #: How long Mesos keeps our tasks running while no scheduler is connected.
    failover_timeout_s: float = Field(default=7 * 86400.0, gt=0)
    refuse_seconds: float = Field(default=30.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    attempts: int = Field(default=5, ge=1)

    def credentials(self) -> tuple[str, str] | None:
        """(principal, secret) for HTTP basic auth, or None."""
        if self.principal is None or self.secret is None:
            return None
        return self.principal, self.secret.get_secret_value()

    @model_validator(mode="after")
    def _credentials(self) -> MesosConfig:
        if (self.principal is None) != (self.secret is None):
            raise ValueError("give both principal and secret, or neither")
        return self


class AwsConfig(_Section):
    """AWS region and endpoint, the state table, and the adapter's timings."""

    region: str = Field(default="us-east-1", min_length=1)
    #: Point every client at another endpoint (moto in tests and the demo).
    endpoint_url: str | None = None
    state_table: str = Field(default="controlplane-state", min_length=3, max_length=255)
    discovery_ttl_s: float = Field(default=300.0, gt=0)
    template_ttl_s: float = Field(default=600.0, gt=0)
    cache_jitter: float = Field(default=0.2, ge=0, lt=1)
    launch_deadline_s: float = Field(default=600.0, gt=0)
    backoff_s: float = Field(default=300.0, gt=0)
    max_backoff_s: float = Field(default=3600.0, gt=0)
    termination_hook: str = Field(default="controlplane-drain", min_length=1)


class LoopConfig(_Section):
    """How often a pass runs and how leadership is held."""

    interval_s: float = Field(default=30.0, gt=0)
    #: A leader that has not renewed its lease for this long is replaced.
    lease_ttl_s: float = Field(default=60.0, ge=5)
    #: A pass acts only while its lease has at least this much time left.
    lease_margin_s: float = Field(default=5.0, ge=0)
    #: Minimum time an agent stays deactivated (and empty) before its instance goes.
    drain_settle_s: float = Field(default=0.0, ge=0)
    #: A drain intent whose instance is gone is forgotten once its agent leaves Mesos, or
    #: after this long (Mesos may keep a dead agent registered for its health-check timeout).
    forget_terminated_after_s: float = Field(default=900.0, gt=0)

    @model_validator(mode="after")
    def _lease(self) -> LoopConfig:
        if self.lease_margin_s * 2 >= self.lease_ttl_s:
            raise ValueError(
                f"lease_margin_s {self.lease_margin_s} must be less than half of "
                f"lease_ttl_s {self.lease_ttl_s}"
            )
        return self


class DemandConfig(_Section):
    """Where pending work comes from.

    `framework`: this daemon is the Mesos framework that runs submitted tasks (`POST
    /v1/tasks` on `listen_port`). `http`: another scheduler publishes its pending tasks at
    `url` (`{"pending": [Task...]}`) and this daemon only sizes the fleet.
    """

    source: Literal["framework", "http"] = "framework"
    url: str | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=8080, ge=0, le=65535)

    @model_validator(mode="after")
    def _url(self) -> DemandConfig:
        if self.source == "http" and not self.url:
            raise ValueError("source 'http' needs url")
        return self


class OpsConfig(_Section):
    """The `/metrics` and `/healthz` port, and logging."""

    host: str = "127.0.0.1"
    port: int = Field(default=9102, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_logs: bool = True


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
    """A whole deployment's configuration; see docs/configuration.md."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
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

    def adapter(self) -> AdapterSettings:
        """The AWS adapter's settings (cluster, pool rules, timings)."""
        aws = self.aws
        return AdapterSettings(
            cluster=self.cluster,
            default_rules=self.default_rules,
            pools=self.pools,
            discovery_ttl_s=aws.discovery_ttl_s,
            template_ttl_s=aws.template_ttl_s,
            cache_jitter=aws.cache_jitter,
            launch_deadline_s=aws.launch_deadline_s,
            backoff_s=aws.backoff_s,
            max_backoff_s=aws.max_backoff_s,
            termination_hook=aws.termination_hook,
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
    file_cls: type[Settings] = type(
        "FileSettings",
        (Settings,),
        {"model_config": {**Settings.model_config, "toml_file": path}},
    )
    try:
        return file_cls(**overrides)
    except ValidationError as error:
        raise ConfigError(source, problems(error)) from None


def _check_toml(path: Path) -> None:
    """Read errors and TOML syntax errors name the file (pydantic-settings would not)."""
    try:
        tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot read: {exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None


def problems(error: ValidationError) -> list[str]:
    """Every problem of a validation error as `dotted.field: message`, in order."""
    out = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"] if not str(p).startswith("function-"))
        kind = item["type"]
        if kind == "extra_forbidden":
            msg = "unknown field"
        elif kind == "missing":
            msg = "missing required field"
        else:
            msg = str(item["msg"]).removeprefix("Value error, ")
            if kind not in {"value_error", "assertion_error"} and "input" in item:
                shown = "'**********'" if "secret" in where else repr(item["input"])
                msg += f" (got {shown[:60]})"
        out.append(f"{where}: {msg}" if where else msg)
    return out
