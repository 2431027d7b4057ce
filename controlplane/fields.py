"""Field types of contract v1: what a valid number, count, duration, time and attribute is.

Strict on purpose: a snapshot drives real instances, so `true` is not a number, a string of
digits is not a time, and values no cluster reaches are refused rather than planned with.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, PlainValidator
from pydantic import Strict as StrictMode

from controlplane.numbers import num

#: Bounds that no real cluster reaches; beyond them a value is a typo or garbage, and
#: refusing it keeps time arithmetic and per-instance work finite.
MAX_GROUP_SIZE = 1_000_000
MAX_SECONDS = 10 * 366 * 86400.0
#: No resource of one machine or task reaches this (24 TiB of memory is 2.5e7 MiB); sums of
#: amounts below it stay finite.
MAX_RESOURCE = 1e12
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2500, 1, 1, tzinfo=UTC)


def _check_resources(value: dict[str, float]) -> dict[str, float]:
    for name, amount in value.items():
        if not name:
            raise ValueError("resource name must not be empty")
        if not math.isfinite(amount):
            raise ValueError(f"resource {name!r} must be a finite number, got {amount}")
        if amount < 0:
            raise ValueError(f"resource {name!r} must be >= 0, got {num(amount)}")
        if amount > MAX_RESOURCE:
            raise ValueError(f"resource {name!r} must be <= {num(MAX_RESOURCE)}, got {num(amount)}")
    return value


#: RFC 3339 date-time: date, time, optional fraction; a missing offset is named by `_utc`.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")


def _time_text(value: object) -> object:
    # Strict mode would refuse ISO strings from Python dicts; lax mode would read a number,
    # or a string of digits, as unix seconds. Times are RFC 3339 strings (or datetimes).
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError(
            f"time must be an RFC 3339 string like 2026-11-23T12:00:00Z, got {value!r}"
        )
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("time must carry a UTC offset (RFC 3339), e.g. 2026-11-23T12:00:00Z")
    value = value.astimezone(UTC)
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"time must lie between {EARLIEST:%Y} and {LATEST:%Y}, got {value:%Y}")
    return value


def _attribute_text(value: object) -> str:
    """Attribute values compare as text: 3, 3.0 and "3" are the same value."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"attribute value must be a string or a number, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"attribute value must be finite, got {value}")
        if value.is_integer():
            return str(int(value))
    return str(value)


def _exactly_int(value: object) -> object:
    # Literal[1] alone accepts True and 1.0 (they equal 1).
    if type(value) is not int:
        raise ValueError(f"expected the integer 1, got {value!r}")
    return value


#: A resource vector: name -> non-negative finite amount (missing names are 0).
Resources = Annotated[dict[str, float], AfterValidator(_check_resources)]
UtcTime = Annotated[datetime, StrictMode(False), BeforeValidator(_time_text), AfterValidator(_utc)]
#: Given as a string or a number; always held as its text (see `_attribute_text`).
AttrValue = Annotated[str | int | float, PlainValidator(_attribute_text)]
Attributes = dict[str, AttrValue]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
#: A count of instances (group bounds, idle buffers) or of one agent's tasks.
Count = Annotated[int, Field(ge=0, le=MAX_GROUP_SIZE)]
#: A duration in seconds (grace periods, cooldowns).
Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1)]
#: The contract version this model reads: the integer 1 (not `true`, not `1.0`).
Version = Annotated[Literal[1], BeforeValidator(_exactly_int)]
