"""What a demo replays on: the world's pools, the control plane's rules, the clock's pace.

`controlplane demo --config demo.toml` reads this (every key optional; see
examples/demo.toml). `variants` are the policies `--compare` puts side by side: each is a
name and the pool rules it changes.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from controlplane.aws.pool_rules import PoolRules
from controlplane.config import ConfigError
from controlplane.errors import problems

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DemoPool(_Strict):
    name: str = Field(default="general", min_length=1)
    instance_type: str = "m5.2xlarge"
    #: On-demand price (USD per hour) for cost figures; us-east-1 list price by default.
    hourly_price: float = Field(default=0.384, ge=0)
    zones: tuple[str, ...] = ZONES
    max_per_zone: int = Field(default=40, ge=1)
    #: Tasks asking for gpus go to the first pool whose name is "gpu", if there is one.
    gpu: bool = False


class Variant(_Strict):
    """A policy to compare: pool rules over the demo's `rules`."""

    name: str = Field(min_length=1)
    rules: dict[str, Any] = Field(default_factory=dict)
    #: The pools buy Spot only: cheaper (`spot_discount`) and interrupted at
    #: `interruptions_per_hour`, each warning delivered through the interruption queue.
    spot: bool = False


#: The policy before consolidation, relocation and the boot-time grace (`--compare`).
IDLE_ONLY: dict[str, Any] = {
    "max_idle": 1,
    "scale_down_cooldown_s": 300,
    "consolidate": False,
    "max_relocations_per_hour": 0,
    "idle_grace_boots": 1000.0,
}


class DemoConfig(_Strict):
    hours: float = Field(default=24.0, gt=0, le=24 * 14)
    seed: int = 7
    #: Synthetic load multiplier (1.0: a peak of ~40 m5.2xlarge).
    scale: float = Field(default=1.0, gt=0, le=20)
    #: Virtual seconds per replay step: submissions, task ends and offers advance by this.
    step_s: float = Field(default=60.0, gt=0, le=600)
    #: The daemon's pass interval (virtual seconds); a multiple of step_s.
    interval_s: float = Field(default=60.0, gt=0)
    #: Seconds from instance launch to a registered Mesos agent.
    boot_delay_s: float = Field(default=120.0, ge=0)
    pools: tuple[DemoPool, ...] = (DemoPool(),)
    #: What the planner is told of task durations: nothing (`learned`: the loop learns per
    #: job from finished tasks), an estimate with realistic error (`declared`: the true
    #: duration times a log-normal factor, sigma 0.5), or the truth (`exact`: clairvoyant,
    #: an upper bound for what duration awareness can do, never a headline figure).
    durations: Literal["learned", "declared", "exact"] = "learned"
    #: Tasks are submitted restartable (batch work that may run again from the start), so
    #: the rules' `relocate_after_s` may move them off cordoned agents.
    restartable: bool = True
    #: A Spot variant's price: the on-demand price less this share.
    spot_discount: float = Field(default=0.7, ge=0, lt=1)
    #: Spot interruption warnings per running Spot instance per hour (then, two minutes
    #: later, the instance is reclaimed).
    interruptions_per_hour: float = Field(default=0.05, ge=0, le=10)
    #: The configured policy. Scale-down cooldown of one pass: the boot-time grace already
    #: keeps each idle agent as long as it pays to, and a pool-wide wait after every scale-up
    #: kept idle agents on a bursty trace (Alibaba 12 h: 93.9 -> 88.4 instance-hours).
    rules: PoolRules = PoolRules(
        min_idle=0,
        max_idle=0,
        idle_grace_s=600,
        idle_grace_boots=1.0,
        scale_up_cooldown_s=60,
        scale_down_cooldown_s=60,
        consolidate_below=0.6,
        relocate_after_s=300,
        max_relocations_per_hour=4,
    )
    variants: tuple[Variant, ...] = (
        Variant(name="lean", rules={"idle_grace_boots": 0.5, "relocate_after_s": 120}),
        Variant(name="buffered", rules={"min_idle": 3, "max_idle": 6, "idle_grace_s": 1200}),
        # The policy before consolidation: only agents that happen to go idle leave, after
        # the fixed grace (1000 boot times is never shorter than idle_grace_s).
        Variant(name="idle-only", rules=IDLE_ONLY),
        # The same policy on Spot instances, with interruptions.
        Variant(name="spot", spot=True),
    )

    @model_validator(mode="after")
    def _consistent(self) -> DemoConfig:
        ratio = self.interval_s / self.step_s
        if abs(ratio - round(ratio)) > 1e-9 or ratio < 1:
            raise ValueError(f"interval_s {self.interval_s:g} is not a multiple of step_s")
        names = [p.name for p in self.pools]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"pool names must be given and unique: {names}")
        for variant in self.variants:
            self.rules_for(variant)
        return self

    def rules_for(self, variant: Variant | None) -> PoolRules:
        if variant is None:
            return self.rules
        try:
            return PoolRules.model_validate({**self.rules.model_dump(), **variant.rules})
        except ValidationError as error:
            raise ValueError(f"variant {variant.name}: {'; '.join(problems(error))}") from None


def load_demo_config(path: Path | None, **overrides: Any) -> DemoConfig:
    """Defaults < the TOML file < `overrides` (command-line flags that were given)."""
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(path.read_text())
        except OSError as error:
            raise ConfigError(source, [f"cannot read: {error.strerror}"]) from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(source, [f"not TOML: {error}"]) from None
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return DemoConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(source, problems(error)) from None
