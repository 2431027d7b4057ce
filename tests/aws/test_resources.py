"""Pool capacity of every resource: GPUs, FPGAs and Neuron devices from the instance type
data, local NVMe as disk, and any resource set by configuration or a group tag."""

from __future__ import annotations

from typing import Any

import pytest
from moto.ec2.models.instance_types import INSTANCE_TYPES

from controlplane.aws.errors import BadAwsReplyError
from controlplane.aws.instance_types import parse_instance_type
from controlplane.aws.pool_rules import PoolRules
from tests.aws.conftest import ZONES, World


@pytest.mark.parametrize(
    ("itype", "expected"),
    [
        ("g4dn.xlarge", {"gpus": 1.0}),
        ("p4d.24xlarge", {"gpus": 8.0}),
        ("inf1.xlarge", {"neuron_devices": 1.0}),
        ("m5.xlarge", {}),
    ],
)
def test_accelerators_come_from_the_instance_type_data(
    itype: str, expected: dict[str, float]
) -> None:
    capacity = parse_instance_type(INSTANCE_TYPES[itype]).capacity(PoolRules())
    accelerators = {k: v for k, v in capacity.items() if k in ("gpus", "fpgas", "neuron_devices")}
    assert accelerators == expected


def test_local_nvme_is_disk_and_configuration_sets_any_resource() -> None:
    info = parse_instance_type(INSTANCE_TYPES["p4d.24xlarge"])
    capacity = info.capacity(PoolRules())
    assert capacity["disk"] == pytest.approx(8000 * 1e9 / 2**20)  # 8 x 1000 GB NVMe
    overridden = info.capacity(PoolRules(capacity={"gpus": 4, "licences": 2}))
    assert (overridden["gpus"], overridden["licences"]) == (4.0, 2.0)


def test_a_bad_accelerator_count_is_refused() -> None:
    raw: dict[str, Any] = {
        **INSTANCE_TYPES["g4dn.xlarge"],
        "GpuInfo": {"Gpus": [{"Count": "one"}]},
    }
    with pytest.raises(BadAwsReplyError, match=r"GpuInfo\.Gpus: bad Count"):
        parse_instance_type(raw)


def test_a_gpu_pool_knows_its_gpus_before_any_instance_runs(world: World) -> None:
    world.group("gpu-a", "gpu", (ZONES[0],), instance_type="g4dn.xlarge")
    (pool,) = world.observe().pools
    assert pool.capacity["gpus"] == 1.0  # scale-from-zero needs no running agent


def test_a_tag_declares_a_named_resource_and_a_bad_one_skips_its_group(world: World) -> None:
    world.group("fpga-a", "fpga", (ZONES[0],), tags={"controlplane:capacity:fpga": "1"})
    world.group("fpga-b", "fpga", (ZONES[1],), tags={"controlplane:capacity:fpga": "1"})
    world.group("odd-a", "odd", (ZONES[0],), tags={"controlplane:capacity:fpga": "lots"})
    seen = world.observe()
    (pool,) = seen.pools
    assert pool.name == "fpga" and pool.capacity["fpga"] == 1.0
    assert "tag controlplane:capacity:fpga='lots' is not a number" in seen.skipped["odd-a"]
