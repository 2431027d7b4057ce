"""The candidate table: every place a task can go, as numpy rows.

Rows are the registered agents (sorted by id; only active ones are usable, the others are
there so their running tasks count for constraints), then the pools' launching instances,
then new instances opened during planning. Keeping them in one set of arrays lets every per-task
decision (fits? allowed? best?) be a vector operation over all candidates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from controlplane.model import KNOWN_RESOURCES, Agent, Pool, Snapshot
from controlplane.planning.helpers.columns import Flat, count_columns, flatten, resource_matrix
from controlplane.planning.helpers.rowwise import any_positive

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Relative slack for float comparisons of resources, so 0.1 + 0.2 fits in 0.3.
EPS = 1e-9

REAL = 1  # a registered agent
HYPOTHETICAL = 0  # a launching or new instance


@dataclass(frozen=True)
class AgentColumns:
    """The registered agents sorted by id, their resource mappings flattened once per pass
    (both the dimension names and the table's columns come from them)."""

    agents: list[Agent]
    total: Flat
    used: Flat


def agent_columns(snapshot: Snapshot) -> AgentColumns:
    agents = sorted_agents(snapshot)
    return AgentColumns(
        agents,
        flatten(list(map(attrgetter("total"), agents))),
        flatten(list(map(attrgetter("used"), agents))),
    )


def dimension_names(snapshot: Snapshot, view: AgentColumns) -> tuple[str, ...]:
    """Resource names in a fixed order: the well-known ones, then the rest sorted."""
    seen = set(chain.from_iterable(map(attrgetter("capacity"), snapshot.pools)))
    seen.update(view.total.keys)
    seen.update(view.used.keys)
    seen.update(chain.from_iterable(map(attrgetter("resources"), snapshot.pending)))
    known = [n for n in KNOWN_RESOURCES if n in seen]
    return tuple(known + sorted(seen.difference(KNOWN_RESOURCES)))


def vector(dims: Mapping[str, int], amounts: Mapping[str, float]) -> FloatArray:
    out = np.zeros(len(dims), dtype=np.float64)
    for name, amount in amounts.items():
        out[dims[name]] = amount
    return out


@dataclass(frozen=True)
class Slot:
    """What a hypothetical row stands for: instance `index` of `pool` in `zone`."""

    pool: str
    zone: str
    index: int
    launching: bool


@dataclass
class CandidateTable:
    """Growable numpy arrays describing candidate rows; `n` rows are live."""

    dims: dict[str, int]
    pools: list[Pool]
    capacity: int
    n: int = 0
    free: FloatArray = field(init=False)
    total: FloatArray = field(init=False)
    pool_idx: IntArray = field(init=False)
    tier: IntArray = field(init=False)
    running: IntArray = field(init=False)
    placed: IntArray = field(init=False)
    exclusive: BoolArray = field(init=False)
    usable: BoolArray = field(init=False)
    #: Registered agents using some resource (so not idle, whatever their task count).
    busy: BoolArray = field(init=False)
    #: The registered agents, in row order (rows 0..len-1).
    agents: list[Agent] = field(default_factory=list)
    labels: list[str | Slot] = field(default_factory=list)
    attr_codes: dict[str, IntArray] = field(default_factory=dict)
    attr_values: dict[str, dict[str, int]] = field(default_factory=dict)
    job_counts: dict[str, IntArray] = field(default_factory=dict)
    #: job -> rows holding one of its unique_host tasks from this plan: closed to the job.
    job_closed: dict[str, BoolArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        r, c = len(self.dims), self.capacity
        self.free = np.zeros((c, r), dtype=np.float64)
        self.total = np.zeros((c, r), dtype=np.float64)
        self.pool_idx = np.zeros(c, dtype=np.int64)
        self.tier = np.zeros(c, dtype=np.int64)
        self.running = np.zeros(c, dtype=np.int64)
        self.placed = np.zeros(c, dtype=np.int64)
        self.exclusive = np.zeros(c, dtype=np.bool_)
        self.usable = np.zeros(c, dtype=np.bool_)
        self.busy = np.zeros(c, dtype=np.bool_)

    def code(self, attribute: str, value: str) -> int:
        """The integer code of an attribute value (allocated on first sight)."""
        values = self.attr_values.setdefault(attribute, {})
        return values.setdefault(value, len(values))

    def value_of(self, attribute: str, code: int) -> str:
        """The attribute value a code stands for (for explanations: a linear search)."""
        return next(v for v, c in self.attr_values.get(attribute, {}).items() if c == code)

    def track_attribute(self, attribute: str) -> None:
        """Start keeping integer codes of `attribute` for every row (-1 = absent)."""
        if attribute not in self.attr_codes:
            self.attr_codes[attribute] = np.full(self.capacity, -1, dtype=np.int64)

    def track_job(self, job: str) -> None:
        if job not in self.job_counts:
            self.job_counts[job] = np.zeros(self.capacity, dtype=np.int64)

    def track_closing(self, job: str) -> None:
        """Keep which rows a unique_host task of `job` holds (no other task of it may join)."""
        if job not in self.job_closed:
            self.job_closed[job] = np.zeros(self.capacity, dtype=np.bool_)

    def add_row(
        self,
        label: str | Slot,
        pool_index: int,
        total: FloatArray,
        free: FloatArray,
        tier: int,
        running: int,
        attributes: Mapping[str, str],
        usable: bool = True,
    ) -> int:
        row = self.n
        if row >= self.capacity:
            self._grow()
        self.free[row] = free
        self.total[row] = total
        self.pool_idx[row] = pool_index
        self.tier[row] = tier
        self.running[row] = running
        self.usable[row] = usable
        for name, codes in self.attr_codes.items():
            value = attributes.get(name)
            codes[row] = -1 if value is None else self.code(name, value)
        self.labels.append(label)
        self.n += 1
        return row

    def add_hypothetical_rows(
        self,
        slots: list[Slot],
        pool_index: int,
        capacity: FloatArray,
        attributes: list[dict[str, str]] | None,
    ) -> list[int]:
        """Rows for new empty instances of one pool, in one vector step per column.

        `attributes` may be None only when no attribute is tracked.
        """
        start, count = self.n, len(slots)
        while start + count > self.capacity:
            self._grow()
        end = start + count
        self.free[start:end] = capacity
        self.total[start:end] = capacity
        self.pool_idx[start:end] = pool_index
        self.tier[start:end] = HYPOTHETICAL
        self.running[start:end] = 0
        self.usable[start:end] = True
        for name, codes in self.attr_codes.items():
            assert attributes is not None
            for k, attrs in enumerate(attributes):
                value = attrs.get(name)
                codes[start + k] = -1 if value is None else self.code(name, value)
        self.labels.extend(slots)
        self.n = end
        return list(range(start, end))

    def _grow(self) -> None:
        extra = max(16, self.capacity)
        self.capacity += extra

        def pad(a: npt.NDArray[np.generic], fill: object = 0) -> npt.NDArray[np.generic]:
            shape = (extra, *a.shape[1:])
            return np.concatenate([a, np.full(shape, fill, dtype=a.dtype)])

        self.free = pad(self.free)  # type: ignore[assignment]
        self.total = pad(self.total)  # type: ignore[assignment]
        self.pool_idx = pad(self.pool_idx)  # type: ignore[assignment]
        self.tier = pad(self.tier)  # type: ignore[assignment]
        self.running = pad(self.running)  # type: ignore[assignment]
        self.placed = pad(self.placed)  # type: ignore[assignment]
        self.exclusive = pad(self.exclusive, False)  # type: ignore[assignment]
        self.usable = pad(self.usable, False)  # type: ignore[assignment]
        self.busy = pad(self.busy, False)  # type: ignore[assignment]
        for name in list(self.attr_codes):
            self.attr_codes[name] = pad(self.attr_codes[name], -1)  # type: ignore[assignment]
        for job in list(self.job_counts):
            self.job_counts[job] = pad(self.job_counts[job])  # type: ignore[assignment]
        for job in list(self.job_closed):
            self.job_closed[job] = pad(self.job_closed[job], False)  # type: ignore[assignment]


def agent_attributes(agent: Agent, pool: Pool) -> dict[str, str]:
    """Attributes a constraint sees on an agent: pool's, then agent's, then built-ins."""
    attrs: dict[str, str] = {k: str(v) for k, v in pool.attributes.items()}
    attrs.update({k: str(v) for k, v in agent.attributes.items()})
    attrs.update(
        zone=agent.zone,
        pool=pool.pool_attribute,
        hostname=agent.hostname or agent.id,
        instance_type=pool.instance_type,
    )
    return attrs


#: The hostname a constraint sees on an instance not yet opened: a host of its own.
FRESH_HOST = "(new host)"


def instance_attributes(pool: Pool, zone: str, index: int | None = None) -> dict[str, str]:
    """Attributes a not-yet-registered instance will carry.

    Its real hostname is unknown, so it gets one that no agent has (`(new) pool/zone#index`,
    or FRESH_HOST before it is opened): a pin to a real host never matches it, and a job
    balanced over hosts sees it as a host with none of its tasks.
    """
    attrs: dict[str, str] = {k: str(v) for k, v in pool.attributes.items()}
    host = FRESH_HOST if index is None else f"(new) {pool.name}/{zone}#{index}"
    attrs.update(
        zone=zone, pool=pool.pool_attribute, instance_type=pool.instance_type, hostname=host
    )
    return attrs


def _attribute_column(
    agents: list[Agent], pools: list[Pool], pool_of: list[int], name: str
) -> list[str | None]:
    """One attribute's value on every agent, with the precedence of `agent_attributes`."""
    if name == "zone":
        return [a.zone for a in agents]
    if name == "pool":
        return [pools[p].pool_attribute for p in pool_of]
    if name == "hostname":
        return [a.hostname or a.id for a in agents]
    if name == "instance_type":
        return [pools[p].instance_type for p in pool_of]
    out: list[str | None] = []
    for agent, p in zip(agents, pool_of, strict=True):
        value = agent.attributes.get(name, pools[p].attributes.get(name))
        out.append(None if value is None else str(value))
    return out


def sorted_agents(snapshot: Snapshot) -> list[Agent]:
    """Agents by id (adapters usually list them so already: then no sort is paid)."""
    agents = snapshot.agents
    ids = list(map(attrgetter("id"), agents))
    if all(map(str.__lt__, ids, ids[1:])):
        return list(agents)
    return sorted(agents, key=lambda a: a.id)


def build_table(
    snapshot: Snapshot,
    view: AgentColumns,
    dims: dict[str, int],
    attributes: Iterable[str],
    jobs: Iterable[str],
    extra_rows: int,
    closing: Iterable[str] = (),
) -> CandidateTable:
    """Rows for the registered agents, sorted by id; attribute codes and job counts filled in.

    Built a column at a time (one pass over the agents per column, in C where possible):
    at 10,000 agents, a row at a time cost more than all the placement decisions.
    """
    agents = view.agents
    n = len(agents)
    pool_index = {p.name: i for i, p in enumerate(snapshot.pools)}
    table = CandidateTable(dims=dims, pools=snapshot.pools, capacity=n + extra_rows + 1)
    table.agents = agents
    for name in sorted(set(attributes)):
        table.track_attribute(name)
    wanted_jobs = set(jobs)
    for job in sorted(wanted_jobs):
        table.track_job(job)
    for job in sorted(set(closing)):  # a subset of `jobs`: their counts are tracked too
        table.track_closing(job)
    if n == 0:
        return table
    total = resource_matrix(view.total, dims)
    in_use = resource_matrix(view.used, dims)
    table.total[:n] = total
    table.free[:n] = total - in_use  # may dip below 0: kept
    table.busy[:n] = any_positive(in_use)
    pool_of = list(map(pool_index.__getitem__, map(attrgetter("pool"), agents)))
    table.pool_idx[:n] = pool_of
    table.tier[:n] = REAL
    tasks = list(map(attrgetter("tasks"), agents))
    if None in tasks:  # `tasks` absent: the sum of `jobs`
        tasks = [a.running for a in agents]
    table.running[:n] = tasks
    states = map(attrgetter("state"), agents)
    table.usable[:n] = np.fromiter(map("active".__eq__, states), np.bool_, count=n)
    # A running exclusive task keeps the agent to itself (as one placed by this plan does).
    table.exclusive[:n] = np.fromiter(map(attrgetter("exclusive"), agents), np.bool_, count=n)
    for name, codes in table.attr_codes.items():
        values = _attribute_column(agents, snapshot.pools, pool_of, name)
        codes[:n] = [-1 if v is None else table.code(name, v) for v in values]
    table.labels.extend(map(attrgetter("id"), agents))
    table.n = n
    if wanted_jobs:
        count_columns(flatten(list(map(attrgetter("jobs"), agents))), table.job_counts)
    return table
