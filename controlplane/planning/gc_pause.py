"""The cyclic garbage collector, paused while a pass builds and drops its objects.

A pass makes hundreds of thousands of short-lived objects (a GET_STATE of 10,000 agents
parses into ~2 million, a plan of 50,000 tasks ~100,000), none of them in cycles: reference
counting frees them all. The cyclic collector, set off again and again by the allocations,
only walks them: parsing a 6 MB GET_STATE took 0.33 s with it and 0.11 s without.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic collection inside; the collector's state is restored after (nested uses
    leave it paused until the outermost ends)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
