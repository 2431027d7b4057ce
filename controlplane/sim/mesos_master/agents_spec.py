"""What `--agents` means for the standalone emulator: a count, inline JSON, or a JSON file.

`3` gives three default agents spread over three zones. JSON (inline or a file) is a list
of agent groups, `{"count": 2, "hostname": "big", "resources": {...}, "attributes": {...}}`,
or `{"agents": [...]}` of the same; unknown fields are refused so a typo cannot pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, TypeAdapter, ValidationError

from controlplane.errors import InputError, describe
from controlplane.fields import Attributes, Count, Resources
from controlplane.formats.snapshot_json import parse_json
from controlplane.model import Strict
from controlplane.sim.mesos_master.core import DEFAULT_AGENT, MasterCore

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
#: A spec larger than this is a typo, not a test cluster.
MAX_AGENTS = 10_000


class AgentGroup(Strict):
    count: Count = 1
    hostname: str | None = None
    resources: Resources = Field(default_factory=lambda: dict(DEFAULT_AGENT))
    attributes: Attributes = Field(default_factory=dict)


_GROUPS = TypeAdapter(list[AgentGroup])


def parse_agents_spec(spec: str) -> list[AgentGroup]:
    """Agent groups from `--agents`; InputError naming the problem otherwise."""
    text = spec.strip()
    if text.isdigit():
        n = int(text)
        if n > MAX_AGENTS:
            raise InputError(f"--agents: at most {MAX_AGENTS} agents, got {n}")
        return [
            AgentGroup(
                attributes={
                    "zone": ZONES[i % 3],
                    "pool": "default",
                    "asg": f"default-{ZONES[i % 3][-1]}",
                    "instance_id": f"i-emu{i:05d}",
                }
            )
            for i in range(n)
        ]
    if text.startswith(("[", "{")):
        data: Any = parse_json(text, "--agents")
        source = "--agents"
    else:
        path = Path(text)
        try:
            data = parse_json(path.read_text(encoding="utf-8"), text)
        except OSError as exc:
            raise InputError(f"--agents: not a count, JSON, or a readable file: {exc}") from exc
        source = text
    if isinstance(data, dict) and set(data) == {"agents"}:
        data = data["agents"]
    try:
        groups = _GROUPS.validate_python(data)
    except ValidationError as exc:
        raise InputError(f"{source}: agents{_where(describe(exc))}") from exc
    if sum(g.count for g in groups) > MAX_AGENTS:
        raise InputError(f"{source}: at most {MAX_AGENTS} agents")
    return groups


def add_agent_groups(core: MasterCore, groups: list[AgentGroup]) -> list[str]:
    """Register every agent of `groups`; returns their ids."""
    ids: list[str] = []
    for group in groups:
        for i in range(group.count):
            host = group.hostname if group.count == 1 else f"{group.hostname}-{i + 1}"
            attrs: dict[str, str | float] = dict(group.attributes)
            ids.append(
                core.add_agent(
                    hostname=host if group.hostname else None,
                    resources=dict(group.resources),
                    attributes=attrs,
                )
            )
    return ids


def _where(text: str) -> str:
    return text if text.startswith("[") else f": {text}"
