"""Numbers in messages, written exactly: a reason must let a person check the decision.

`:g` rounds to six digits, so 3997700 and 3997696 MiB both read "3.9977e+06"; here every
value prints as the shortest text that reads back as the same float.
"""

from __future__ import annotations


def num(value: float) -> str:
    """`16`, `0.5`, `3997700`, `1e+300`: integers without a point, others round-trip exact."""
    x = float(value)
    if x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(x)
