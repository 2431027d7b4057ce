"""Constraints as vector operations over candidate rows.

Hard constraints become boolean masks; soft ones add one point each to a row's score when
met. `balanced` keeps a job's tasks even over an attribute's values: a task may only go to a
value that holds the fewest of the job's tasks among the values it could reach now (rows it
fits on, and zones where its pools may open an instance).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from controlplane.model import LIFECYCLE, Pool
from controlplane.numbers import num
from controlplane.planning.growth import PoolGrowth
from controlplane.planning.helpers.rowwise import all_at_least
from controlplane.planning.table import (
    EPS,
    HYPOTHETICAL,
    BoolArray,
    CandidateTable,
    FloatArray,
    IntArray,
    instance_attributes,
)
from controlplane.planning.tasks import TaskClass


@dataclass
class RowFilter:
    """Evaluates a task class's constraints against the live rows of the table."""

    table: CandidateTable
    growth: list[PoolGrowth]

    def __post_init__(self) -> None:
        self._agent_guards = self._unpromised_scarce()

    def _unpromised_scarce(self) -> list[tuple[int, IntArray, BoolArray]]:
        """Per pool: the scarce resources its capacity does not promise (columns), and which
        of its registered agents have some anyway (a larger type of a mixed group)."""
        t = self.table
        m = len(t.agents)
        out: list[tuple[int, IntArray, BoolArray]] = []
        for pi, g in enumerate(self.growth):
            pool = g.pool
            cols = [t.dims[r] for r in pool.scarce if r in t.dims and not pool.capacity.get(r)]
            if pool.shares_scarce or not cols:
                continue
            rows = (t.pool_idx[:m] == pi) & (t.total[:m][:, cols] > 0).any(axis=1)
            if rows.any():
                out.append((pi, np.array(cols, dtype=np.int64), rows))
        return out

    def _spot_consent(self, cls: TaskClass, pools: list[int], n: int) -> BoolArray | bool:
        """A task that says nothing of `lifecycle` stays off the rows of pools that keep
        Spot for those that ask (`spot_by_default` false): any row not known on-demand."""
        t = self.table
        keep = [pi for pi in pools if not t.pools[pi].spot_by_default]
        if not keep or _asks_lifecycle(cls):
            return True
        on_demand = t.attr_codes[LIFECYCLE][:n] == t.code(LIFECYCLE, "on-demand")
        allowed: BoolArray = ~np.isin(t.pool_idx[:n], keep) | on_demand
        return allowed

    def hard_mask(self, cls: TaskClass, pools: list[int]) -> BoolArray:
        """Rows that may take one more task of the class (balance aside)."""
        t, n = self.table, self.table.n
        slack = EPS * np.maximum(t.total[:n], 1.0)
        mask = all_at_least(t.free[:n] + slack, cls.demand)
        mask &= t.usable[:n] & ~t.exclusive[:n]
        if len(pools) < len(t.pools):
            mask &= np.isin(t.pool_idx[:n], pools)
        sharing = [pi for pi in pools if kept_scarce(self.growth[pi].pool, t.dims, cls.demand)]
        if sharing:  # a pool sharing its scarce agents: registered agents only, never new ones
            mask &= ~(np.isin(t.pool_idx[:n], sharing) & (t.tier[:n] == HYPOTHETICAL))
        for pi, cols, rows in self._agent_guards:  # an agent with GPUs its pool lacks
            if pi in pools and not (cls.demand[cols] > 0).any():
                mask[: len(rows)] &= ~rows
        mask &= self._spot_consent(cls, pools, n)
        if cls.exclusive:
            mask &= (t.running[:n] == 0) & (t.placed[:n] == 0)
        for name, value in cls.hard_attrs:
            mask &= t.attr_codes[name][:n] == t.code(name, value)
        if cls.unique_host:
            assert cls.job is not None
            mask &= t.job_counts[cls.job][:n] == 0
        elif cls.job is not None and cls.job in t.job_closed:
            mask &= ~t.job_closed[cls.job][:n]
        return mask

    def instance_code(self, pool_i: int, zone: str, attribute: str) -> int:
        """The code a new instance of the pool in `zone` has for `attribute` (-1: none)."""
        value = instance_attributes(self.growth[pool_i].pool, zone).get(attribute)
        return -1 if value is None else self.table.code(attribute, value)

    def new_instance_zones(self, cls: TaskClass, pool_i: int) -> list[str]:
        """Zones where a new instance of the pool may be opened and would take the task."""
        growth = self.growth[pool_i]
        pool = growth.pool
        if kept_scarce(pool, self.table.dims, cls.demand):
            return []  # never an instance of a scarce pool for work that does not need it
        unasked_spot = pool.attributes.get(LIFECYCLE) != "on-demand"
        if unasked_spot and not pool.spot_by_default and not _asks_lifecycle(cls):
            return []  # it may be Spot, and the task did not ask for that
        for name, amount in zip(self.table.dims, cls.demand, strict=True):
            if amount > pool.capacity.get(name, 0.0) * (1 + EPS):
                return []
        zones = []
        for zone in growth.openable():
            attrs = instance_attributes(pool, zone)
            if all(attrs.get(name) == value for name, value in cls.hard_attrs):
                zones.append(zone)
        return zones


def _asks_lifecycle(cls: TaskClass) -> bool:
    return any(name == LIFECYCLE for name, _ in (*cls.hard_attrs, *cls.soft_attrs))


def kept_scarce(pool: Pool, dims: Mapping[str, int], demand: FloatArray) -> list[str]:
    """The scarce resources `pool` keeps from a task of `demand` that asks for none of them
    (empty: the task may use the pool). `dims`: resource name -> column of `demand`."""
    guarded = [r for r in pool.scarce if pool.capacity.get(r, 0.0) > 0]
    if not guarded:
        return []
    asks = any(r in dims and demand[dims[r]] > 0 for r in guarded)
    return [] if asks else guarded


def job_counts_by_value(table: CandidateTable, job: str, attribute: str) -> FloatArray:
    n = table.n
    codes = table.attr_codes[attribute][:n]
    counts = table.job_counts[job][:n]
    known = codes >= 0
    size = len(table.attr_values.get(attribute, {}))
    return np.bincount(codes[known], weights=counts[known], minlength=size).astype(np.float64)


def reachable_codes(rows: RowFilter, cls: TaskClass, pools: list[int], attribute: str) -> set[int]:
    """Codes of the attribute's values a new instance for the class could be opened in."""
    out: set[int] = set()
    for pi in pools:
        for zone in rows.new_instance_zones(cls, pi):
            code = rows.instance_code(pi, zone, attribute)
            if code >= 0:
                out.add(code)
    return out


def spanned_codes(
    table: CandidateTable, growth: list[PoolGrowth], pools: list[int], attribute: str
) -> set[int]:
    """Codes of every value the class's pools span: their agents' (usable or not) and their
    groups' new instances' (open or not). A hard spread is a failure-domain promise: a
    value that cannot take more still counts."""
    n = table.n
    codes = table.attr_codes[attribute][:n]
    mine = np.isin(table.pool_idx[:n], pools) & (codes >= 0)
    out = set(np.unique(codes[mine]).tolist())
    for pi in pools:
        pool = growth[pi].pool
        for group in pool.groups:
            value = instance_attributes(pool, group.zone).get(attribute)
            if value is not None:
                out.add(table.code(attribute, value))
    return out


def balanced_allowed(
    rows: RowFilter, cls: TaskClass, pools: list[int], attribute: str, mask: BoolArray
) -> IntArray:
    """Codes of the attribute's values the next task of the class may go to: those it can
    reach that hold the fewest of its job's tasks over every value the pools span (none,
    when a value it cannot reach holds fewer: the task waits rather than skew the spread)."""
    table = rows.table
    codes = table.attr_codes[attribute][: table.n]
    domain = set(np.unique(codes[mask & (codes >= 0)]).tolist())
    domain |= reachable_codes(rows, cls, pools, attribute)
    if not domain:
        return np.zeros(0, dtype=np.int64)
    assert cls.job is not None
    spanned = spanned_codes(table, rows.growth, pools, attribute)  # may add codes: first
    by_value = job_counts_by_value(table, cls.job, attribute)
    span = np.array(sorted(domain | spanned), dtype=np.int64)
    low = by_value[span].min()
    values = np.array(sorted(domain), dtype=np.int64)
    allowed: IntArray = values[by_value[values] == low]
    return allowed


def starved_values(
    table: CandidateTable, growth: list[PoolGrowth], cls: TaskClass, pools: list[int]
) -> list[str]:
    """For a hard-balanced class: per attribute, the spanned values holding the fewest of
    its job's tasks (the ones a next task would have to go to), as `name=value (n)`."""
    out = []
    for attribute in cls.balanced:
        assert cls.job is not None
        span = sorted(spanned_codes(table, growth, pools, attribute))  # may add codes: first
        if not span:
            continue
        by_value = job_counts_by_value(table, cls.job, attribute)
        low = min(by_value[c] for c in span)
        names = [table.value_of(attribute, c) for c in span if by_value[c] == low]
        out.append(f"{attribute} {', '.join(names)} ({num(float(low))} tasks of job {cls.job})")
    return out


def soft_score(rows: RowFilter, cls: TaskClass, idx: IntArray) -> FloatArray:
    """Soft constraints each row in `idx` meets (one point each)."""
    t = rows.table
    score = np.zeros(len(idx), dtype=np.float64)
    for name, value in cls.soft_attrs:
        score += t.attr_codes[name][idx] == t.code(name, value)
    if cls.soft_unique_host:
        assert cls.job is not None
        score += t.job_counts[cls.job][idx] == 0
    if cls.soft_exclusive:
        score += (t.running[idx] == 0) & (t.placed[idx] == 0)
    for attribute in cls.soft_balanced:
        assert cls.job is not None
        codes = t.attr_codes[attribute][idx]
        known = codes >= 0
        if not known.any():
            continue
        by_value = job_counts_by_value(t, cls.job, attribute)
        row_counts = np.where(known, by_value[np.maximum(codes, 0)], np.inf)
        score += row_counts == row_counts[known].min()
    return score
