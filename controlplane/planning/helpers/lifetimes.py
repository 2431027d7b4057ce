"""New instances per lifetime class: short tasks' instances empty together and leave.

Packing the shortfall by size alone mixes a burst's short and long tasks on every new
instance, so each one stays as long as its longest task. Packing each lifetime class on its
own instances may take more of them but lets the short ones go early. Both are packed and
the cheaper kept, by estimated instance-seconds: per bin, the pool's boot time plus the
longest expected duration in it (a task of unknown duration counts as the longest known).
Classes are geometric, a factor of 4 wide from a minute: under 4 min, 4-16 min, 16-64 min,
64 min-4 h 16 min, longer; unknown durations are a class of their own. Ties keep the joint
packing (fewer instances).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from controlplane.planning.helpers.packing import FloatArray, Packing, pack

#: Lifetime classes: factor-of-4 buckets from a minute.
BASE_S, FACTOR = 60.0, 4.0


@dataclass(frozen=True)
class Bins:
    """Item indices per bin (in opening order), how they were packed, and the bound."""

    members: list[list[int]]
    method: str
    lower_bound: int


def lifetime_class(duration_s: float | None) -> int:
    """-1 for unknown, else 0 under 4 minutes, 1 under 16, ... (factor-4 buckets)."""
    if duration_s is None:
        return -1
    return max(0, int(math.log(max(duration_s, BASE_S) / BASE_S, FACTOR)))


def pack_by_lifetime(
    sizes: FloatArray, durations: Sequence[float | None], boot_s: float | None
) -> Bins:
    """The joint packing, or one packing per lifetime class when that is cheaper."""
    joint = pack(sizes)
    together = Bins(_members(joint), joint.method, joint.lower_bound)
    known = [d for d in durations if d is not None]
    classes = sorted({lifetime_class(d) for d in durations})
    if not known or len(classes) < 2:
        return together
    life = np.array([max(known) if d is None else d for d in durations])
    split: list[list[int]] = []
    for c in classes:
        idx = np.array([i for i, d in enumerate(durations) if lifetime_class(d) == c])
        part = pack(sizes[idx])
        split.extend([[int(idx[i]) for i in bin_] for bin_ in _members(part)])
    boot = boot_s or 0.0
    if _cost(split, life, boot) >= _cost(together.members, life, boot):
        return together
    split.sort(key=lambda b: -float(sizes[b].sum()))  # fullest first, as `pack` orders
    method = f"{joint.method}, then per lifetime class ({len(classes)} classes)"
    return Bins(split, method, joint.lower_bound)


def _members(result: Packing) -> list[list[int]]:
    members: list[list[int]] = [[] for _ in range(result.count)]
    for i, b in enumerate(result.bin_of.tolist()):
        members[b].append(i)
    return members


def _cost(members: list[list[int]], life: FloatArray, boot_s: float) -> float:
    """Estimated instance-seconds: each bin lives its boot plus its longest task."""
    return sum(boot_s + float(life[b].max()) for b in members if b)
