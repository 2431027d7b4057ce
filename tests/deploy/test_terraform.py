"""terraform/ is laid out as modules are expected to be: typed, described, used, pinned.

Parsed with python-hcl2: no provider, no network.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.hcl import (
    COMPLETE,
    MODULE_META,
    MODULES,
    labelled,
    load,
    root_dirs,
    single,
    tf_files,
    var_refs,
)


def _ids(dirs: list[Path]) -> list[str]:
    return [f"{d.parent.name}/{d.name}" for d in dirs]


# ---- layout and variables -------------------------------------------------------------------


@pytest.mark.parametrize("directory", root_dirs(), ids=_ids(root_dirs()))
def test_every_variable_is_typed_described_and_used(directory: Path) -> None:
    declared = labelled(directory, "variable")
    for name, body in declared.items():
        assert "type" in body, f"{directory.name}: variable {name} has no type"
        assert body.get("description"), f"{directory.name}: variable {name} has no description"
        for validation in body.get("validation", []):
            # required_version >= 1.5: a validation may refer to its own variable only.
            assert var_refs(validation["condition"]) == {name}, f"{name}: {validation}"
    others = [p for p in tf_files(directory) if p.name != "variables.tf"]
    used = var_refs([load(p) for p in others])
    assert sorted(used - set(declared)) == [], f"{directory.name}: undeclared variables"
    assert sorted(set(declared) - used) == [], f"{directory.name}: unused variables"


@pytest.mark.parametrize("directory", root_dirs(), ids=_ids(root_dirs()))
def test_every_root_pins_terraform_and_the_aws_provider(directory: Path) -> None:
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (directory / name).is_file(), f"{directory.name}: no {name}"
    terraform = single(load(directory / "versions.tf"), "terraform")
    assert terraform["required_version"] == ">= 1.5"
    aws = single(terraform, "required_providers")["aws"]
    assert aws == {"source": "hashicorp/aws", "version": "~> 5.0"}
    for name, body in labelled(directory, "output").items():
        assert body.get("description"), f"{directory.name}: output {name} has no description"


def test_every_module_has_a_readme() -> None:
    for directory in root_dirs():
        assert (directory / "README.md").is_file(), directory


def test_example_module_calls_pass_declared_and_all_required_variables() -> None:
    calls = labelled(COMPLETE, "module")
    assert set(calls) == {"control_plane", "pool_batch", "pool_services", "scheduled_scaling"}
    for name, call in calls.items():
        source = (COMPLETE / call["source"]).resolve()
        assert source.parent == MODULES.resolve(), f"{name}: source {call['source']}"
        declared = labelled(source, "variable")
        given = set(call) - MODULE_META
        assert sorted(given - set(declared)) == [], f"module {name}: unknown arguments"
        required = {v for v, body in declared.items() if "default" not in body}
        assert sorted(required - given) == [], f"module {name}: required variables missing"


def test_example_has_two_pools_over_the_same_three_zones() -> None:
    calls = labelled(COMPLETE, "module")
    pools = {c["pool"] for c in calls.values() if c["source"].endswith("/agent_pool")}
    assert pools == {"batch", "services"}
    subnets = labelled(COMPLETE, "variable")["private_subnets"]
    assert "length(var.private_subnets) == 3" in subnets["validation"][0]["condition"]
