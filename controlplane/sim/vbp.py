"""Vector bin-packing instances (VPSolver `.vbp` format) as planner snapshots.

The Panigrahy classes come with known optima, which makes them the yardstick for the
planner's packing: one pool whose instance is the bin, no agents, every item a pending task,
so the scale-up count is the number of bins the planner uses.
"""

from __future__ import annotations

import csv
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from controlplane.model import Group, Pool, Snapshot, Task

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class VbpInstance:
    name: str
    capacity: tuple[float, ...]
    items: tuple[tuple[tuple[float, ...], int], ...]  # (sizes, multiplicity)

    @property
    def item_count(self) -> int:
        return sum(q for _, q in self.items)


def parse_vbp(name: str, text: str) -> VbpInstance:
    """Parse the `.vbp` text: d, capacities, m, then m lines of sizes and multiplicity."""
    nums = [float(tok) for tok in text.split()]
    if not nums:
        raise ValueError(f"{name}: empty instance")
    d = int(nums[0])
    capacity = tuple(nums[1 : 1 + d])
    m = int(nums[1 + d])
    pos = 2 + d
    items = []
    for _ in range(m):
        row = nums[pos : pos + d + 1]
        if len(row) != d + 1:
            raise ValueError(f"{name}: truncated item list")
        items.append((tuple(row[:d]), int(row[d])))
        pos += d + 1
    return VbpInstance(name, capacity, tuple(items))


def read_archive(path: Path) -> Iterator[VbpInstance]:
    """Every `.vbp` member of a tar.gz archive, in name order."""
    with tarfile.open(path, "r:gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.name.endswith(".vbp")), key=_key)
        for member in members:
            handle = tar.extractfile(member)
            if handle is None:
                continue
            name = Path(member.name).stem
            yield parse_vbp(name, handle.read().decode("ascii"))


def _key(member: tarfile.TarInfo) -> str:
    return Path(member.name).stem


def read_optima(path: Path) -> dict[str, int]:
    """instance name -> known optimum (instances with OPT -1, unknown, are left out)."""
    out: dict[str, int] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            opt = int(row["OPT"])
            if opt > 0:
                out[row["instance_name"]] = opt
    return out


def to_snapshot(instance: VbpInstance, fitness: str = "binpack") -> Snapshot:
    """One pool whose instance is the bin; each item a pending task of its own job."""
    dims = [f"r{i}" for i in range(len(instance.capacity))]
    pool = Pool.model_validate(
        {
            "name": "bins",
            "instance_type": "bin",
            "capacity": dict(zip(dims, instance.capacity, strict=True)),
            "max_idle": 0,
            "fitness": fitness,
            "groups": [Group(asg="bins-a", zone="z-a", min=0, max=instance.item_count, desired=0)],
        }
    )
    tasks: list[Task] = []
    for t, (sizes, qty) in enumerate(instance.items):
        resources = dict(zip(dims, sizes, strict=True))
        tasks.extend(Task(id=f"t{t}-{k}", resources=resources) for k in range(qty))
    return Snapshot(version=1, now=NOW, pools=[pool], pending=tasks)
