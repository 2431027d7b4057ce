"""Workloads the demo replays: a synthetic day, and real traces (Alibaba 2017, plain CSV).

A workload is a list of arrivals: when a task is submitted, how long it runs once started,
what it asks for. Times are seconds from the start of the replay.
"""

from __future__ import annotations

import csv
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from controlplane.errors import InputError

#: One Alibaba machine (64 cores) has about 0.69 of the largest machine's memory. We take
#: the largest as 512 GiB, so a common machine has ~353 GiB: 5.5 GiB per core, a plausible
#: 2017 batch host. The trace only gives ratios; this is the one assumption that sets MiB.
ALIBABA_MEM_MIB = 512 * 1024.0
ALIBABA_HEADER = (
    "task_create_time",
    "task_end_time",
    "job_id",
    "task_id",
    "number_of_instances",
    "status",
    "number_of_cpus_requested_per_instance_in_the_task",
    "normalized_memory_requested_per_instance_in_the_task",
)
CSV_REQUIRED = ("submit_s", "duration_s", "cpus", "mem")
CSV_OPTIONAL = ("gpus", "job")


#: Ten years: a time beyond it is a typo (1e308 would overflow the replay's clock).
MAX_SECONDS = 10 * 366 * 86400.0


class WorkloadError(InputError):
    """A trace that cannot be read as a workload; names the file, line and problem."""


@dataclass(frozen=True)
class Arrival:
    submit_s: float
    duration_s: float
    cpus: float
    mem: float
    gpus: float = 0.0
    job: str | None = None
    kind: str = "batch"
    #: "unique_host" or "balanced_zone".
    constraints: tuple[str, ...] = ()


@dataclass(frozen=True)
class Workload:
    arrivals: tuple[Arrival, ...]
    source: str
    #: Rows left out, by reason (real traces have holes).
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def horizon_s(self) -> float:
        return max((a.submit_s + a.duration_s for a in self.arrivals), default=0.0)


def concurrent_demand(
    workload: Workload, times: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """cpus, mem and gpus of the work that would run at each of `times` if every task
    started when submitted (the reference the oracle is computed from)."""
    if not workload.arrivals:
        zero = np.zeros(len(times))
        return zero, zero.copy(), zero.copy()
    start = np.array([a.submit_s for a in workload.arrivals])
    end = start + np.array([a.duration_s for a in workload.arrivals])
    out = []
    for values in (
        np.array([a.cpus for a in workload.arrivals]),
        np.array([a.mem for a in workload.arrivals]),
        np.array([a.gpus for a in workload.arrivals]),
    ):
        s_order, e_order = np.argsort(start), np.argsort(end)
        started = np.concatenate([[0.0], np.cumsum(values[s_order])])
        ended = np.concatenate([[0.0], np.cumsum(values[e_order])])
        n_started = np.searchsorted(start[s_order], times, side="right")
        n_ended = np.searchsorted(end[e_order], times, side="right")
        out.append(np.maximum(started[n_started] - ended[n_ended], 0.0))
    return out[0], out[1], out[2]


def synthetic(hours: float = 24.0, seed: int = 7, scale: float = 1.0) -> Workload:
    """A day of mixed work: services that stay for hours, diurnal batch, bursts of fan-out
    jobs, a few jobs that want one task per host. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    horizon = hours * 3600.0
    arrivals: list[Arrival] = []
    # Services: long-lived, some spread over zones, started through the morning.
    for i in range(round(12 * scale)):
        submit = float(rng.uniform(0, min(horizon, 6 * 3600)))
        cpus = float(rng.choice([1.0, 2.0, 4.0]))
        arrivals.append(
            Arrival(
                submit,
                float(rng.uniform(6, 20) * 3600),
                cpus,
                cpus * float(rng.choice([2048.0, 4096.0])),
                job=f"svc-{i // 3:02d}",
                kind="service",
                constraints=("balanced_zone",) if i % 3 == 0 else (),
            )
        )
    # Diurnal batch: a Poisson process whose rate peaks mid-afternoon and dips at night.
    minutes = np.arange(0.0, horizon, 60.0)
    rate = scale * (1.2 + 1.0 * np.sin(2 * np.pi * (minutes / 86400.0 - 0.375)))
    counts = rng.poisson(np.clip(rate, 0.05, None))
    for minute, n in zip(minutes, counts, strict=True):
        for _ in range(int(n)):
            cpus = float(rng.choice([0.5, 1.0, 2.0, 4.0], p=[0.3, 0.4, 0.2, 0.1]))
            arrivals.append(
                Arrival(
                    float(minute + rng.uniform(0, 60)),
                    float(np.clip(rng.lognormal(math.log(900), 0.8), 60, 3 * 3600)),
                    cpus,
                    cpus * float(rng.uniform(1024, 4096)),
                    job=f"batch-{int(minute) // 3600:02d}",
                )
            )
    # Bursts: a job fans out 20-120 tasks within a minute, a few times a day.
    for b in range(max(1, round(hours / 4 * scale))):
        at = float(rng.uniform(0.1, 0.9) * horizon)
        spread = b % 3 == 0
        # One task per host: a burst of those is kept small (each task wants its own agent).
        width = int(rng.integers(10, 31)) if spread else int(rng.integers(20, 121))
        for _ in range(width):
            arrivals.append(
                Arrival(
                    at + float(rng.uniform(0, 60)),
                    float(rng.uniform(600, 2400)),
                    2.0 if spread else 1.0,
                    4096.0 if spread else 2048.0,
                    job=f"burst-{b:02d}",
                    constraints=("unique_host",) if spread else (),
                )
            )
    arrivals.sort(key=lambda a: (a.submit_s, a.job or "", a.cpus))
    kept = tuple(a for a in arrivals if a.submit_s < horizon)
    return Workload(kept, f"synthetic(hours={hours:g}, seed={seed}, scale={scale:g})")


def synthetic_gpu(hours: float = 24.0, seed: int = 7, scale: float = 1.0) -> Workload:
    """The synthetic day plus GPU work: a training job every few hours fans out tasks that
    each ask for one GPU and run for tens of minutes, so a GPU pool scales from zero for
    them and back to zero between them."""
    day = synthetic(hours, seed, scale)
    rng = np.random.default_rng(seed + 1)
    horizon = hours * 3600.0
    gpu: list[Arrival] = []
    at = float(rng.uniform(0.5, 1.5) * 3600)
    job = 0
    while at < horizon:
        for _ in range(int(rng.integers(4, 17))):
            gpu.append(
                Arrival(
                    at + float(rng.uniform(0, 120)),
                    float(rng.uniform(1800, 5400)),
                    2.0,
                    8192.0,
                    gpus=1.0,
                    job=f"train-{job:02d}",
                )
            )
        job += 1
        at += float(rng.uniform(2.5, 4.0) * 3600)
    arrivals = sorted(
        (*day.arrivals, *(a for a in gpu if a.submit_s < horizon)),
        key=lambda a: (a.submit_s, a.job or "", a.cpus),
    )
    return Workload(
        tuple(arrivals), f"synthetic-gpu(hours={hours:g}, seed={seed}, scale={scale:g})"
    )


def alibaba(
    path: Path,
    *,
    hours: float | None = None,
    start_s: float = 0.0,
    max_instances: int = 10,
    scale: float = 1.0,
    jobs_per_1000: int = 1000,
) -> Workload:
    """Alibaba cluster-trace-v2017 batch_task.csv: one arrival per task instance.

    CPU is in 1/100 core, memory a fraction of the largest machine (`ALIBABA_MEM_MIB`).
    Instances per task are capped at `max_instances` and then scaled by `scale`: the
    table's task-level times overstate concurrency (instances run in waves; see the data's
    SOURCE.md), and a laptop replay wants hundreds of instances, not thousands.
    `jobs_per_1000` keeps that share of jobs (by job id, so a job is kept whole).
    """
    skipped: dict[str, int] = {}
    arrivals: list[Arrival] = []
    end_window = math.inf if hours is None else start_s + hours * 3600.0
    with _Rows(path) as rows:
        header = [h.strip() for h in next(rows, [])]
        if tuple(header) != ALIBABA_HEADER:
            raise WorkloadError(f"{path}:1: not an Alibaba batch_task header: {header}")
        for line, row in enumerate(rows, start=2):
            if len(row) != len(ALIBABA_HEADER):
                raise WorkloadError(f"{path}:{line}: {len(row)} columns, expected 8")
            create, end, job, _task, count, _status, cpu, mem = (c.strip() for c in row)
            if not cpu or not mem:
                skipped["no request"] = skipped.get("no request", 0) + 1
                continue
            values = _numbers(path, line, create=create, end=end, count=count, cpu=cpu, mem=mem)
            if not start_s <= values["create"] < end_window:
                continue
            if zlib.crc32(job.encode()) % 1000 >= jobs_per_1000:
                continue
            if values["end"] <= values["create"]:
                skipped["no duration"] = skipped.get("no duration", 0) + 1
                continue
            if values["cpu"] <= 0 or values["mem"] <= 0:
                skipped["zero request"] = skipped.get("zero request", 0) + 1
                continue
            if values["end"] - values["create"] > MAX_SECONDS or values["create"] < 0:
                raise WorkloadError(f"{path}:{line}: times out of range ({create}, {end})")
            n = max(1, round(min(values["count"], max_instances) * scale))
            one = Arrival(
                values["create"] - start_s,
                values["end"] - values["create"],
                values["cpu"] / 100.0,
                values["mem"] * ALIBABA_MEM_MIB,
                job=f"ali-{job}",
            )
            arrivals.extend([one] * n)
    if not arrivals:
        raise WorkloadError(f"{path}: holds no task in the replayed window")
    arrivals.sort(key=lambda a: (a.submit_s, a.job or ""))
    return Workload(tuple(arrivals), f"alibaba({path.name})", skipped)


def csv_trace(path: Path) -> Workload:
    """A plain CSV: `submit_s,duration_s,cpus,mem` (MiB), optional `gpus,job`."""
    arrivals = []
    with _Rows(path) as rows:
        header = [h.strip() for h in next(rows, [])]
        missing = [c for c in CSV_REQUIRED if c not in header]
        unknown = [c for c in header if c not in CSV_REQUIRED + CSV_OPTIONAL]
        if missing or unknown:
            raise WorkloadError(f"{path}:1: missing columns {missing}, unknown columns {unknown}")
        for line, row in enumerate(rows, start=2):
            if len(row) != len(header):
                raise WorkloadError(f"{path}:{line}: {len(row)} columns, expected {len(header)}")
            cells = dict(zip(header, (c.strip() for c in row), strict=True))
            job = cells.pop("job", "") or None
            numbers = _numbers(path, line, **{k: v or "0" for k, v in cells.items()})
            for name in ("duration_s", "cpus", "mem", "gpus"):
                if numbers.get(name, 0.0) < 0 or (name == "duration_s" and numbers[name] <= 0):
                    raise WorkloadError(f"{path}:{line}: {name} {numbers[name]:g} out of range")
            for name in ("submit_s", "duration_s"):
                if not 0 <= numbers[name] <= MAX_SECONDS:
                    raise WorkloadError(
                        f"{path}:{line}: {name} {numbers[name]:g} out of range "
                        f"(0 to {MAX_SECONDS:g} s)"
                    )
            arrivals.append(
                Arrival(
                    numbers["submit_s"],
                    numbers["duration_s"],
                    numbers["cpus"],
                    numbers["mem"],
                    gpus=numbers.get("gpus", 0.0),
                    job=job,
                )
            )
    if not arrivals:
        raise WorkloadError(f"{path}: holds no task (a header and no rows)")
    arrivals.sort(key=lambda a: a.submit_s)
    return Workload(tuple(arrivals), f"csv({path.name})")


def load_trace(path: Path, *, hours: float | None = None) -> Workload:
    """Either format, told apart by its header."""
    with _Rows(path) as rows:
        header = tuple(h.strip() for h in next(rows, []))
    if header == ALIBABA_HEADER:
        return alibaba(path, hours=hours, jobs_per_1000=20, max_instances=5)
    if set(CSV_REQUIRED) <= set(header):
        return csv_trace(path)
    raise WorkloadError(
        f"{path}:1: unknown header {list(header)}; expected the Alibaba v2017 batch_task "
        f"header or {','.join(CSV_REQUIRED)}[,{','.join(CSV_OPTIONAL)}]"
    )


class _Rows:
    """CSV rows of a file, with a WorkloadError (not OSError) for a missing file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = path.open(newline="", encoding="utf-8")
        except OSError as error:
            raise WorkloadError(f"{path}: {error.strerror}") from None

    def __enter__(self) -> Iterator[list[str]]:
        return self._rows()

    def _rows(self) -> Iterator[list[str]]:
        line = 1
        try:
            for row in csv.reader(self._file):
                yield row
                line += 1
        except UnicodeDecodeError as error:
            byte = error.object[error.start]
            raise WorkloadError(
                f"{self.path}: not UTF-8 text near line {line} (byte {byte:#04x})"
            ) from None
        except csv.Error as error:
            raise WorkloadError(f"{self.path}:{line}: {error}") from None

    def __exit__(self, *_: object) -> None:
        self._file.close()


def _numbers(path: Path, line: int, **cells: str) -> dict[str, float]:
    out = {}
    for name, text in cells.items():
        try:
            value = float(text)
        except ValueError:
            raise WorkloadError(f"{path}:{line}: {name} {text!r} is not a number") from None
        if not math.isfinite(value):
            raise WorkloadError(f"{path}:{line}: {name} {text!r} is not finite")
        out[name] = value
    return out
