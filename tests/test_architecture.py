"""The one-way flow of docs/architecture.md, held by reading every import (plain `ast`)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).parents[1] / "controlplane"
ADAPTERS = ("aws", "mesos", "demand", "state")
#: The commands that run the embedded world may import it; nothing else in production.
WORLD_ENTRIES = ("cli/demo.py", "cli/emulator.py")


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _modules(*parts: str) -> list[tuple[str, set[str]]]:
    base = SRC.joinpath(*parts)
    return [(str(p.relative_to(SRC)), _imports(p)) for p in sorted(base.rglob("*.py"))]


def test_the_planner_imports_only_the_model_its_own_modules_numpy_and_the_stdlib() -> None:
    allowed = (
        "controlplane.planning",
        "controlplane.model",
        "controlplane.fields",
        "controlplane.numbers",
        "numpy",
    )
    for where, names in _modules("planning"):
        for name in names:
            top = name.split(".")[0]
            ok = name.startswith(allowed) or top in sys.stdlib_module_names
            assert ok, f"planning/{where} imports {name}"


def test_nothing_in_production_imports_the_embedded_world() -> None:
    for where, names in _modules():
        if where.startswith(("sim/", "demo/")) or where in WORLD_ENTRIES:
            continue
        bad = sorted(n for n in names if n.startswith(("controlplane.sim", "controlplane.demo")))
        assert not bad, f"{where} imports {bad}"


def test_adapters_never_import_the_control_loop_or_the_cli() -> None:
    for adapter in ADAPTERS:
        for where, names in _modules(adapter):
            bad = sorted(
                n for n in names if n.startswith(("controlplane.control", "controlplane.cli"))
            )
            assert not bad, f"{adapter}/{where} imports {bad}"
