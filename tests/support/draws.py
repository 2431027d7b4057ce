"""Drawing primitives and fixed choices for the snapshot strategies.

Choices are drawn as an index into a tuple (`pick`), so shrinking moves towards the first,
simplest option; strategies are built once (`index` is cached), which keeps drawing cheap.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TypeVar

from hypothesis import strategies as st

from controlplane.model import AgentState, Fitness

T = TypeVar("T")

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
#: Seconds "ago" that count as forever for idle grace and cooldowns.
LONG_AGO_S = 10_000_000
MAX_AGENTS = 30
MAX_PENDING = 40

ZONES: tuple[str, ...] = ("us-east-1a", "us-east-1b", "us-east-1c")
POOL_NAMES: tuple[str, ...] = ("batch", "web", "gpu")
INSTANCE_TYPES: tuple[str, ...] = ("m5.4xlarge", "c5.2xlarge", "p3.2xlarge")
JOBS: tuple[str, ...] = ("j1", "j2", "j3", "j4")
RACKS: tuple[str, ...] = ("r1", "r2", "r3")
TIERS: tuple[str, ...] = ("gold", "silver")
GENS: tuple[str | int | float, ...] = (5, 6.0, "6", 7.5)
FITNESS: tuple[Fitness, ...] = (
    "binpack",
    "binpack_cpu",
    "binpack_mem",
    "binpack_network",
    "spread",
)
#: A named scalar resource (anything outside the well-known names must fit like the others).
SCALAR = "licence"
RESOURCES: tuple[str, ...] = ("cpus", "mem", "disk", "network", "gpus", "ports", SCALAR)

#: Per-instance amounts a pool's capacity may have.
CAPACITY_CHOICES: dict[str, tuple[float, ...]] = {
    "cpus": (16.0, 8.0, 16.0, 4.0, 2.0),
    "mem": (63000.0, 15000.0, 4096.0),
    "disk": (190000.0, 50000.0),
    "network": (10000.0, 1000.0),
    "gpus": (4.0, 1.0),
    "ports": (1000.0, 100.0),
    SCALAR: (4.0, 1.0),
}
#: Per-task amounts a pending task may ask for (`_template` now and then makes one huge).
DEMAND_CHOICES: dict[str, tuple[float, ...]] = {
    "cpus": (1.0, 0.1, 0.2, 0.5, 1.5, 2.0, 1.0, 4.0, 8.0),
    "mem": (1000.0, 128.0, 4096.0, 2048.0, 8192.0),
    "disk": (5000.0, 100.0, 60000.0),
    "network": (100.0, 10.0, 2500.0),
    "gpus": (1.0, 1.0, 2.0),
    "ports": (1.0, 10.0, 50.0),
    SCALAR: (1.0, 1.0, 2.0),
}
#: Shares of the largest pool instance a large task asks for.
LARGE_SHARES: tuple[float, ...] = (0.5, 0.3, 0.7, 1.0)
#: How much bigger than the largest pool instance a too-big task is.
HUGE = 1000.0
USED_FRACTIONS: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)
TOTAL_FACTORS: tuple[float, ...] = (1.0, 0.25, 0.5, 2.0)
STATES: tuple[AgentState, ...] = ("active", "active", "active", "active", "draining", "drained")
#: What agents run, by job (the agent's `tasks` may add tasks of no known job).
JOB_SETS: tuple[dict[str, int], ...] = (
    {"j1": 1},
    {},
    {"j2": 1},
    {"j1": 2},
    {"j1": 1, "j2": 1},
    {"j3": 1, "j4": 2},
    {"j2": 2, "j3": 1},
    {"j4": 1},
    {"j1": 0, "j3": 1},
)
BUSY_JOB_SETS: tuple[dict[str, int], ...] = ({"j1": 1}, {"j2": 2}, {"j3": 1}, {"j4": 1})


@cache
def index(n: int) -> st.SearchStrategy[int]:
    return st.integers(0, n - 1)


def pick(draw: st.DrawFn, options: tuple[T, ...]) -> T:
    """One of `options`; shrinks towards the first."""
    return options[draw(index(len(options)))]


def chance(draw: st.DrawFn, one_in: int) -> bool:
    """True about once in `one_in` draws; shrinks towards False."""
    return draw(index(one_in)) == one_in - 1


def digits(draw: st.DrawFn, *sizes: int) -> list[int]:
    """One index per size, from a single draw (cheaper than one draw each).

    The first size is the most significant digit: shrinking simplifies it first, and every
    index shrinks towards 0, the first and simplest option.
    """
    total = 1
    for size in sizes:
        total *= size
    code = draw(index(total))
    out = []
    for size in reversed(sizes):
        code, digit = divmod(code, size)
        out.append(digit)
    return out[::-1]


def subset(draw: st.DrawFn, options: tuple[T, ...], most: int) -> list[T]:
    """Up to `most` distinct options, in a drawn order."""
    out: list[T] = []
    for _ in range(draw(index(most + 1))):
        left = tuple(o for o in options if o not in out)
        if not left:
            break
        out.append(pick(draw, left))
    return out


def at(seconds: int) -> datetime:
    """`seconds` after NOW (negative: before)."""
    return NOW + timedelta(seconds=seconds)


def asg_name(pool: str, zone: str) -> str:
    return f"{pool}-{zone[-1]}"
