"""Spot groups over moto: a group's InstancesDistribution says whether its new instances are
Spot, on-demand or either; the pool promises a `lifecycle` only when all its groups agree,
and a distribution AWS would not send is refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.aws.errors import BadAwsReplyError
from controlplane.aws.purchase import Purchase, parse_purchase
from controlplane.aws.spot_prices import parse_price
from tests.aws.conftest import ZONES, World

SPOT = {
    "OnDemandBaseCapacity": 0,
    "OnDemandPercentageAboveBaseCapacity": 0,
    "SpotAllocationStrategy": "price-capacity-optimized",
}


def test_a_spot_group_reads_back_and_its_pool_promises_spot(world: World) -> None:
    world.group("spot-a", "spot", ZONES[:1], distribution=SPOT)
    world.group("od-a", "od", ZONES[:1])
    seen = world.observe()
    group = seen.groups["spot-a"]
    assert group.purchase == Purchase(0, 0, "price-capacity-optimized", False)
    pools = {p.name: p for p in seen.pools}
    assert pools["spot"].attributes["lifecycle"] == "spot"
    assert pools["od"].attributes["lifecycle"] == "on-demand"


def test_a_pool_mixing_spot_and_on_demand_promises_no_lifecycle(world: World) -> None:
    mixed = {**SPOT, "OnDemandBaseCapacity": 1}  # the first instance on-demand, then Spot
    world.group("mix-a", "mix", ZONES[:1], distribution=mixed)
    world.group("both-a", "both", ZONES[:1], distribution=SPOT)
    world.group("both-b", "both", ZONES[1:2])
    pools = {p.name: p for p in world.observe().pools}
    assert "lifecycle" not in pools["mix"].attributes
    assert "lifecycle" not in pools["both"].attributes


@pytest.mark.parametrize(
    ("distribution", "message"),
    [
        (
            {"OnDemandPercentageAboveBaseCapacity": 101},
            "InstancesDistribution.OnDemandPercentageAboveBaseCapacity is 101",
        ),
        ({"OnDemandBaseCapacity": -1}, "InstancesDistribution.OnDemandBaseCapacity is -1"),
        ({"SpotAllocationStrategy": "cheapest"}, "SpotAllocationStrategy 'cheapest' is not"),
        ("all spot", "InstancesDistribution is not an object"),
    ],
)
def test_a_distribution_aws_would_not_send_is_refused_by_name(
    distribution: Any, message: str
) -> None:
    raw = {"MixedInstancesPolicy": {"InstancesDistribution": distribution}}
    with pytest.raises(BadAwsReplyError, match=message):
        parse_purchase(raw, "group g")
    with pytest.raises(BadAwsReplyError, match="CapacityRebalance is 'yes'"):
        parse_purchase({"CapacityRebalance": "yes"}, "group g")


def test_a_spot_pool_costs_what_aws_quotes_and_others_what_is_configured(world: World) -> None:
    world.group("spot-a", "spot", ZONES[:1], distribution=SPOT)
    world.group("od-a", "od", ZONES[:1])
    pools = {p.name: p for p in world.observe().pools}
    # moto quotes 0.00001 for every Spot instance; the configured default price is none.
    assert pools["spot"].hourly_price == pytest.approx(0.00001)
    assert pools["od"].hourly_price is None
    calls = world.metrics.count("DescribeSpotPriceHistory")
    world.observe()
    assert world.metrics.count("DescribeSpotPriceHistory") == calls  # cached


@pytest.mark.parametrize("quoted", ["free", "-1", "nan", "0"])
def test_a_price_that_is_no_positive_number_is_refused_by_name(quoted: str) -> None:
    with pytest.raises(BadAwsReplyError, match=f"spot price of m5.large in z: '{quoted}'"):
        parse_price(quoted, "spot price of m5.large in z")
