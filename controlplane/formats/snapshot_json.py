"""Reading a snapshot document: JSON that means one thing, then the contract models.

`json.loads` keeps the last of two equal keys, so `{"cpus": 16, "cpus": 1}` would silently
become one instance size; it also reads `NaN` and `Infinity`, which are not JSON. Both are
refused here, before validation, with the place they occur.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from controlplane.errors import InputError, describe
from controlplane.model import Snapshot


class _AmbiguousJSONError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _AmbiguousJSONError(f"duplicate key {key!r} in one JSON object")
        out[key] = value
    return out


def _no_constants(name: str) -> float:
    raise _AmbiguousJSONError(f"{name} is not a JSON number")


def parse_json(text: str, source: str) -> Any:
    """The JSON value of `text`; InputError names `source` and what is wrong."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (_AmbiguousJSONError, json.JSONDecodeError) as exc:
        raise InputError(f"{source}: invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InputError(f"{source}: invalid JSON: nested too deeply") from exc
    except ValueError as exc:  # an integer of thousands of digits, and the like
        raise InputError(f"{source}: invalid JSON: {str(exc).split(':', 1)[0]}") from exc


def parse_snapshot(text: str, source: str) -> Snapshot:
    """A validated snapshot from JSON text, or InputError with one line naming the problem."""
    data = parse_json(text, source)
    try:
        return Snapshot.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{source}: {describe(exc)}") from exc
