"""Spot prices for the cost of Spot pools: the latest DescribeSpotPriceHistory price of the
pool's instance types in its zones (Linux), cached; none known: the configured price.

A price is what a pool costs per instance-hour in the planner (the cheapest pool that fits
gets new instances first): for a Spot-only pool, the mean over its zones of the dearest of
its types' latest prices. A price that is not a positive finite number is refused by name.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import datetime, timedelta

from controlplane.aws.calls import AwsCaller, BotoClient
from controlplane.aws.errors import BadAwsReplyError

#: How far back a price may be (AWS keeps 90 days; a current one is minutes old).
LOOKBACK = timedelta(hours=6)


class SpotPrices:
    def __init__(self, caller: AwsCaller, ec2: BotoClient, ttl_s: float) -> None:
        self._caller = caller
        self._ec2 = ec2
        self._ttl_s = ttl_s
        #: (type, zone) -> (price, read at).
        self._cache: dict[tuple[str, str], tuple[float | None, datetime]] = {}

    def hourly(self, types: Collection[str], zones: Collection[str], now: datetime) -> float | None:
        """The pool's Spot price per instance-hour, or None when AWS knows none."""
        per_zone = []
        for zone in sorted(zones):
            prices = [self._latest(t, zone, now) for t in sorted(types)]
            if any(p is None for p in prices):
                return None
            per_zone.append(max(p for p in prices if p is not None))
        return sum(per_zone) / len(per_zone) if per_zone else None

    def _latest(self, itype: str, zone: str, now: datetime) -> float | None:
        cached = self._cache.get((itype, zone))
        if cached is not None and (now - cached[1]).total_seconds() < self._ttl_s:
            return cached[0]
        reply = self._caller.read(
            self._ec2,
            "DescribeSpotPriceHistory",
            InstanceTypes=[itype],
            AvailabilityZone=zone,
            ProductDescriptions=["Linux/UNIX", "Linux/UNIX (Amazon VPC)"],
            StartTime=now - LOOKBACK,
            MaxResults=100,
        )
        rows = [
            r
            for r in reply.get("SpotPriceHistory", [])
            if r.get("InstanceType") == itype and r.get("AvailabilityZone") == zone
        ]
        price = None
        if rows:
            newest = max(rows, key=lambda r: str(r.get("Timestamp", "")))
            price = parse_price(newest.get("SpotPrice"), f"spot price of {itype} in {zone}")
        self._cache[(itype, zone)] = (price, now)
        return price


def parse_price(text: object, where: str) -> float:
    try:
        value = float(str(text))
    except ValueError:
        raise BadAwsReplyError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise BadAwsReplyError(f"{where}: {text!r} is not a positive price")
    return value
