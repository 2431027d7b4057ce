"""`examples/controlplane.toml` shows every setting, and validates."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from controlplane.aws.pool_rules import PoolRules
from controlplane.config import Settings, load_settings

EXAMPLE = Path(__file__).parents[1] / "examples" / "controlplane.toml"
#: Sections whose keys are names the operator chooses, not settings.
FREE = {"pools", "demand.commands", "schedule.profiles"}


def _keys(model: type[BaseModel], section: str = "") -> set[str]:
    out: set[str] = set()
    for name, info in model.model_fields.items():
        where = f"{section}.{name}" if section else name
        kind = info.annotation
        if where in FREE:
            continue
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            out |= _keys(kind, where)
        else:
            out.add(where)
    return out


def _shown() -> set[str]:
    """`section.key` of every key in the example, set or commented out."""
    out: set[str] = set()
    section = ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        header = re.match(r"^#?\s*\[+([A-Za-z0-9_.]+)\]+", line)
        if header:
            section = header.group(1)
            continue
        key = re.match(r"^#?\s*([A-Za-z_]+)\s*=", line)
        if key:
            out.add(f"{section}.{key.group(1)}" if section else key.group(1))
    return out


def test_every_setting_is_in_the_example() -> None:
    wanted = _keys(Settings) | {f"default_rules.{k}" for k in PoolRules.model_fields}
    assert sorted(wanted - _shown()) == []


def test_the_example_validates() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.daemon_problems() == []
    assert settings.demand.default_command in settings.demand.commands
