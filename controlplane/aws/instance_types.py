"""What one instance of a pool offers, from its launch template and the instance type data.

This is what lets a pool scale from zero: with no instance running, the planner still knows
the cpus and memory a new one brings. Instance type data never changes, so it is cached for
good; launch templates can get new versions, so their lookups expire.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from controlplane.aws.calls import AwsCaller, BotoClient
from controlplane.aws.errors import AwsCallError, BadAwsReplyError
from controlplane.aws.pool_rules import PoolRules
from controlplane.aws.replies import TemplateRef

#: DescribeInstanceTypes takes at most this many names per call.
TYPES_PER_CALL = 100
_GIGABIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s+Gigabit\s*$")
_FLOATING_VERSIONS = frozenset({"$Latest", "$Default"})
#: Page size of the account-wide version lookup (the API's maximum). moto truncates to it
#: without a NextToken; templates a short page misses are then read one by one.
FLOATING_PAGE = 200


@dataclass(frozen=True)
class InstanceTypeInfo:
    """The hardware of one instance type, as EC2 describes it."""

    name: str
    vcpus: int
    mem_mib: int
    network_mbps: float | None
    instance_storage_mib: float | None
    #: Accelerators by Mesos resource name (`gpus`, `fpgas`, `neuron_devices`), counts.
    accelerators: Mapping[str, float] = field(default_factory=dict)

    def capacity(self, rules: PoolRules) -> dict[str, float]:
        """Resources one agent of this type offers Mesos, after the pool's memory reserve;
        the pool's `capacity` rule sets or overrides any resource (named ones too)."""
        mem = self.mem_mib - rules.mem_reserve_mib
        if mem <= 0:
            raise BadAwsReplyError(
                f"instance type {self.name}: {self.mem_mib} MiB leaves nothing after the "
                f"{rules.mem_reserve_mib:g} MiB reserve"
            )
        out = {"cpus": float(self.vcpus), "mem": float(mem)}
        disk = rules.disk_mib if rules.disk_mib is not None else self.instance_storage_mib
        if disk:
            out["disk"] = float(disk)
        if self.network_mbps:
            out["network"] = self.network_mbps
        out.update({name: float(n) for name, n in self.accelerators.items() if n > 0})
        out.update(rules.capacity)
        return out


def smallest_capacity(capacities: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """What a new instance brings when AWS picks among several types: per resource, the least
    any of them offers (a resource one type lacks is not promised at all)."""
    rows = list(capacities)
    if not rows:
        raise ValueError("no instance types to take the smallest capacity of")
    names = set(rows[0]).intersection(*rows[1:])
    out = {name: min(row[name] for row in rows) for name in sorted(names)}
    return {name: value for name, value in out.items() if value > 0}


def parse_instance_type(raw: Mapping[str, Any]) -> InstanceTypeInfo:
    """One DescribeInstanceTypes entry; missing cpu or memory data is a clear error."""
    name = raw.get("InstanceType")
    if not isinstance(name, str) or not name:
        raise BadAwsReplyError("DescribeInstanceTypes: an entry has no InstanceType")
    vcpus = raw.get("VCpuInfo", {}).get("DefaultVCpus")
    mem = raw.get("MemoryInfo", {}).get("SizeInMiB")
    if not isinstance(vcpus, int) or vcpus <= 0:
        raise BadAwsReplyError(f"instance type {name}: reply has no VCpuInfo.DefaultVCpus")
    if not isinstance(mem, int) or mem <= 0:
        raise BadAwsReplyError(f"instance type {name}: reply has no MemoryInfo.SizeInMiB")
    storage = (raw.get("InstanceStorageInfo") or {}).get("TotalSizeInGB")
    return InstanceTypeInfo(
        name=name,
        vcpus=vcpus,
        mem_mib=mem,
        network_mbps=_network_mbps(raw.get("NetworkInfo", {})),
        # GB (10^9 bytes) as MiB: local instance-store (NVMe) disks.
        instance_storage_mib=float(storage) * 1e9 / 2**20 if storage else None,
        accelerators=_accelerators(name, raw),
    )


#: Instance type data -> (list key, Mesos resource name): what each accelerator is called.
_ACCELERATORS = (
    ("GpuInfo", "Gpus", "gpus"),
    ("FpgaInfo", "Fpgas", "fpgas"),
    ("NeuronInfo", "NeuronDevices", "neuron_devices"),
)


def _accelerators(name: str, raw: Mapping[str, Any]) -> dict[str, float]:
    """Accelerator counts (GPUs, FPGAs, Neuron devices) of one instance type."""
    out: dict[str, float] = {}
    for info_key, list_key, resource in _ACCELERATORS:
        info = raw.get(info_key) or {}
        if not isinstance(info, Mapping):
            raise BadAwsReplyError(f"instance type {name}: {info_key} is not an object")
        total = 0
        for device in info.get(list_key) or []:
            count = device.get("Count") if isinstance(device, Mapping) else None
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise BadAwsReplyError(f"instance type {name}: {info_key}.{list_key}: bad Count")
            total += count
        if total:
            out[resource] = float(total)
    return out


def _network_mbps(info: Mapping[str, Any]) -> float | None:
    """Sustained bandwidth: baseline of the network cards, else an exact "N Gigabit"."""
    baselines = [
        float(card["BaselineBandwidthInGbps"])
        for card in info.get("NetworkCards", [])
        if card.get("BaselineBandwidthInGbps")
    ]
    if baselines:
        return sum(baselines) * 1000.0
    match = _GIGABIT.match(str(info.get("NetworkPerformance", "")))
    # "Up to 10 Gigabit" is a burst, not a capacity to plan with: leave network unknown.
    return float(match.group(1)) * 1000.0 if match else None


class InstanceTypeCatalog:
    """DescribeInstanceTypes, cached forever, fetched 100 names per call."""

    def __init__(self, caller: AwsCaller, ec2: BotoClient) -> None:
        self._caller = caller
        self._ec2 = ec2
        self._known: dict[str, InstanceTypeInfo] = {}

    def lookup(self, names: Iterable[str]) -> dict[str, InstanceTypeInfo]:
        wanted = sorted(set(names))
        missing = [n for n in wanted if n not in self._known]
        for start in range(0, len(missing), TYPES_PER_CALL):
            batch = missing[start : start + TYPES_PER_CALL]
            try:
                reply = self._caller.read(self._ec2, "DescribeInstanceTypes", InstanceTypes=batch)
            except AwsCallError as error:
                if error.code.startswith("InvalidInstanceType"):
                    raise BadAwsReplyError(
                        f"unknown instance type in {batch}: {error.api_message}"
                    ) from error
                raise
            for raw in reply.get("InstanceTypes", []):
                info = parse_instance_type(raw)
                self._known[info.name] = info
        absent = [n for n in wanted if n not in self._known]
        if absent:
            raise BadAwsReplyError(f"DescribeInstanceTypes returned nothing for {absent}")
        return {n: self._known[n] for n in wanted}


class LaunchTemplateTypes:
    """Instance type of each launch template version, with jittered expiry.

    `$Latest`/`$Default` references of all templates are read in one account-wide call
    (DescribeLaunchTemplateVersions without a template id); numbered versions need one call
    per template.
    """

    def __init__(
        self, caller: AwsCaller, ec2: BotoClient, ttl_s: float, jitter: float, rng: random.Random
    ) -> None:
        self._caller = caller
        self._ec2 = ec2
        self._ttl_s = ttl_s
        self._jitter = jitter
        self._rng = rng
        self._types: dict[TemplateRef, str] = {}
        self._expires: datetime | None = None

    def lookup(self, refs: Iterable[TemplateRef], now: datetime) -> dict[TemplateRef, str]:
        wanted = set(refs)
        if self._expires is None or now >= self._expires:
            self._types.clear()
            spread = 1 + self._rng.uniform(-self._jitter, self._jitter)
            self._expires = now + timedelta(seconds=self._ttl_s * spread)
        missing = [r for r in wanted if r not in self._types]
        if any(r.version in _FLOATING_VERSIONS for r in missing):
            self._read_floating(missing)
        for key, by_name in sorted({(r.key, r.by_name) for r in missing if r not in self._types}):
            versions = sorted({r.version for r in missing if (r.key, r.by_name) == (key, by_name)})
            which = {"LaunchTemplateName" if by_name else "LaunchTemplateId": key}
            reply = self._caller.read(
                self._ec2, "DescribeLaunchTemplateVersions", Versions=versions, **which
            )
            self._remember(reply.get("LaunchTemplateVersions", []), versions)
        out: dict[TemplateRef, str] = {}
        for ref in wanted:
            if ref not in self._types:
                raise BadAwsReplyError(
                    f"launch template {ref.key} version {ref.version}: no such version, or it "
                    "names no InstanceType"
                )
            out[ref] = self._types[ref]
        return out

    def _read_floating(self, missing: list[TemplateRef]) -> None:
        floating = sorted({r.version for r in missing if r.version in _FLOATING_VERSIONS})
        token: str | None = None
        items: list[Mapping[str, Any]] = []
        while True:
            extra = {"NextToken": token} if token else {}
            reply = self._caller.read(
                self._ec2,
                "DescribeLaunchTemplateVersions",
                Versions=floating,
                MaxResults=FLOATING_PAGE,
                **extra,
            )
            items.extend(reply.get("LaunchTemplateVersions", []))
            token = reply.get("NextToken")
            if not token:
                break
        self._remember(items, floating)

    def _remember(self, items: list[Mapping[str, Any]], versions: list[str]) -> None:
        by_template: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for item in items:
            ident = (str(item.get("LaunchTemplateId", "")), str(item.get("LaunchTemplateName", "")))
            by_template.setdefault(ident, []).append(item)
        for (tid, tname), versions_seen in by_template.items():
            for version in versions:
                chosen = _pick_version(versions_seen, version)
                itype = (chosen or {}).get("LaunchTemplateData", {}).get("InstanceType")
                if not itype:
                    continue
                for key, by_name in ((tid, False), (tname, True)):
                    if key:
                        self._types[TemplateRef(key, by_name, version)] = str(itype)


def _pick_version(items: list[Mapping[str, Any]], version: str) -> Mapping[str, Any] | None:
    numbered = [i for i in items if isinstance(i.get("VersionNumber"), int)]
    if version == "$Latest":
        return max(numbered, key=lambda i: int(i["VersionNumber"]), default=None)
    if version == "$Default":
        return next((i for i in items if i.get("DefaultVersion")), None)
    return next((i for i in numbered if str(i["VersionNumber"]) == version), None)
