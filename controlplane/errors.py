"""Turning input problems into one line a person can act on."""

from __future__ import annotations

from pydantic import ValidationError


class InputError(Exception):
    """Input the control plane will not act on; the message names the problem."""


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "tagged-union" or str(part).startswith("function-") or "[" in str(part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def problems(error: ValidationError) -> list[str]:
    """Every problem of a pydantic error as `where: what`, in order (secrets not shown)."""
    out = []
    for item in error.errors(include_url=False):
        kind = item["type"]
        where = _where(tuple(item["loc"]))
        if kind == "extra_forbidden":
            msg = "unknown field"
        elif kind == "missing":
            msg = "missing required field"
        elif kind == "json_invalid":
            msg = f"invalid JSON: {item.get('ctx', {}).get('error', item['msg'])}"
        else:
            msg = str(item["msg"]).removeprefix("Value error, ")
            if "input" in item and kind not in {"value_error", "assertion_error"}:
                shown = "'**********'" if "secret" in where else repr(item["input"])
                msg += f" (got {shown[:60]})"
        out.append(f"{where}: {msg}" if where else msg)
    return out


def describe(error: ValidationError) -> str:
    """The first problem of a pydantic error as `where: what`, plus how many more."""
    found = problems(error)
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return found[0] + more
