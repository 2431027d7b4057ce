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
        elif part in {"function-after", "tagged-union"} or "[" in str(part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(error: ValidationError) -> str:
    """The first problem of a pydantic error as `where: what`, plus how many more."""
    problems = error.errors(include_url=False)
    first = problems[0]
    kind = first["type"]
    loc = tuple(first["loc"])
    if kind == "extra_forbidden":
        msg = "unknown field"
    elif kind == "missing":
        msg = "missing required field"
    elif kind == "json_invalid":
        msg = f"invalid JSON: {first.get('ctx', {}).get('error', first['msg'])}"
    else:
        msg = str(first["msg"]).removeprefix("Value error, ")
        if "input" in first and kind not in {"value_error", "assertion_error"}:
            shown = repr(first["input"])
            msg += f" (got {shown[:60]})"
    where = _where(loc)
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: {msg}{more}" if where else f"{msg}{more}"
