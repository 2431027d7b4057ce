"""Plans as text: canonical JSON for machines, a table for people."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from controlplane.model import Placement, Plan


def plan_json(plan: Plan) -> str:
    """The plan as contract JSON; a placement names `agent` or `new`, never both as null.

    Placements (50,000 in a backlog plan) are written from the models directly, the rest
    dumped by pydantic, the whole by orjson: the same text as `json.dumps(indent=2,
    ensure_ascii=False)` gave, in a fifth of the time."""
    rest = plan.model_dump(mode="json", exclude={"placements"})
    data: dict[str, Any] = {}
    for name in Plan.model_fields:  # the models' field order, as model_dump keeps it
        data[name] = (
            [_placement(p) for p in plan.placements] if name == "placements" else rest[name]
        )
    for key in ("cordon", "uncordon"):  # consolidation's lists appear only when used
        if not data[key]:
            del data[key]
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"


def _placement(p: Placement) -> dict[str, Any]:
    out: dict[str, Any] = {"task": p.task}
    if p.agent is not None:
        out["agent"] = p.agent
    if p.new is not None:
        out["new"] = {"pool": p.new.pool, "zone": p.new.zone, "index": p.new.index}
    out["reason"] = p.reason
    return out


def _rows(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*headers), fmt.format(*("-" * w for w in widths))] + [
        fmt.format(*r) for r in rows
    ]


def plan_table(plan: Plan) -> str:
    """A person's view: scale actions first, then where tasks go, then what cannot go."""
    lines: list[str] = []
    s = plan.summary
    lines.append(
        f"placed {s.placed} ({s.placed_on_agents} on agents, {s.placed_on_new} on new or "
        f"launching instances), unplaced {s.unplaced}; new instances {s.new_instances}, "
        f"drains {s.scale_down}; agents needed {s.agents_needed} (lower bound {s.lower_bound})"
    )
    if plan.scale_up:
        lines += ["", "SCALE UP"]
        lines += _rows(
            ["pool", "asg", "zone", "count", "reason"],
            [[u.pool, u.asg, u.zone, str(u.count), u.reason] for u in plan.scale_up],
        )
    if plan.scale_down:
        lines += ["", "SCALE DOWN"]
        lines += _rows(
            ["pool", "agent", "instance", "zone", "action", "reason"],
            [
                [d.pool, d.agent, d.instance_id or "-", d.zone, d.action, d.reason]
                for d in plan.scale_down
            ],
        )
    if plan.holds:
        lines += ["", "HELD"]
        lines += _rows(["pool", "reason"], [[h.pool, h.reason] for h in plan.holds])
    if plan.placements:
        where = Counter(p.target for p in plan.placements)
        lines += ["", "PLACEMENTS"]
        lines += _rows(["target", "tasks"], [[k, str(v)] for k, v in sorted(where.items())])
    if plan.unplaced:
        lines += ["", "UNPLACED"]
        lines += _rows(["task", "reason"], [[u.task, u.reason] for u in plan.unplaced])
    return "\n".join(lines) + "\n"
