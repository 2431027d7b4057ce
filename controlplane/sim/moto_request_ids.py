"""moto's request ids drawn from a generator of their own, not from its seeded one.

moto stamps every response with a request id drawn from `mock_random`, the generator the
world seeds so that instance ids (and so every tie-break between agents) repeat. Each call
of any service therefore moved every later instance id: a change that only made fewer
calls (a state write skipped, a read cached) reshuffled the replay's tie-breaks and moved
a day's instance-hours by a few per cent, with no decision of the control plane's changed.
`install()` gives request ids a generator of their own; ids of the things moto creates
still come from the seeded one, in the order they are created.
"""

from __future__ import annotations

import random
import string
from typing import Any

from moto.core import responses

_ALPHABET = string.ascii_uppercase + string.digits
_rng = random.Random()


def _request_id(headerdict: dict[str, Any] | None = None) -> str:
    request_id = "".join(_rng.choices(_ALPHABET, k=52))
    if isinstance(headerdict, dict):
        headerdict["x-amzn-requestid"] = request_id
    return request_id


def install() -> bool:
    """Patch moto's responses (idempotent); whether they are patched."""
    current = getattr(responses, "gen_amzn_requestid_long", None)
    if current is _request_id:
        return True
    if current is None:
        return False  # not the moto this was written for: left as it is
    setattr(responses, "gen_amzn_requestid_long", _request_id)  # noqa: B010 (not exported)
    return True
