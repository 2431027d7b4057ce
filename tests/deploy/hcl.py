"""Reading terraform/ for the deploy tests: python-hcl2, normalised, and `terraform console`.

python-hcl2 8 keeps string quotes (`'"abc"'`) and adds `__is_block__`/`__comments__` keys;
older versions do neither. `clean` turns both shapes into one: plain strings, no markers.
Expressions stay as python-hcl2 writes them (`"${var.x}"`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import hcl2
import pytest

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
MODULES = TERRAFORM / "modules"
EXAMPLES = TERRAFORM / "examples"
INFRA = REPO / "infra"
AGENT_POOL = MODULES / "agent_pool"
CONTROL_PLANE = MODULES / "control_plane"
SCHEDULED = MODULES / "scheduled_scaling"
COMPLETE = EXAMPLES / "complete"

#: `module` block arguments that are Terraform's, not the module's variables.
MODULE_META = frozenset({"source", "version", "providers", "depends_on", "count", "for_each"})

_VAR_REF = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)")


def unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1]
    return text


def clean(value: Any) -> Any:
    """python-hcl2 output without quotes around strings and keys and without `__x__` keys."""
    if isinstance(value, dict):
        return {
            unquote(str(k)): clean(v)
            for k, v in value.items()
            if not (str(k).startswith("__") and str(k).endswith("__"))
        }
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, str):
        return unquote(value)
    return value


def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        parsed = clean(hcl2.load(handle))
    assert isinstance(parsed, dict)
    return parsed


def tf_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.tf"))


def module_dirs() -> list[Path]:
    return sorted(p for p in MODULES.iterdir() if p.is_dir())


def root_dirs() -> list[Path]:
    """Every directory of .tf files: the modules and the examples."""
    return [*module_dirs(), *sorted(p for p in EXAMPLES.iterdir() if p.is_dir())]


def blocks(directory: Path, kind: str, files: list[Path] | None = None) -> list[dict[str, Any]]:
    """Every top-level block of one kind (`resource`, `variable`, ...) in a directory."""
    out: list[dict[str, Any]] = []
    for path in files if files is not None else tf_files(directory):
        out.extend(load(path).get(kind, []))
    return out


def labelled(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """One-label blocks (variable, output, module) by name."""
    out: dict[str, dict[str, Any]] = {}
    for block in blocks(directory, kind):
        for name, body in block.items():
            assert name not in out, f"{directory.name}: {kind} {name} declared twice"
            out[name] = body
    return out


def resources(directory: Path, rtype: str) -> dict[str, dict[str, Any]]:
    """Resources of one type by name."""
    out: dict[str, dict[str, Any]] = {}
    for block in blocks(directory, "resource"):
        for name, body in block.get(rtype, {}).items():
            out[name] = body
    return out


def single(body: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested block that appears once (python-hcl2 lists every block)."""
    value = body[key]
    if isinstance(value, list):
        assert len(value) == 1, f"{key}: expected one block, got {len(value)}"
        value = value[0]
    assert isinstance(value, dict)
    return value


def locals_of(directory: Path, files: list[Path] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for block in blocks(directory, "locals", files):
        out.update(block)
    return out


def strings(value: Any) -> Iterator[str]:
    """Every string (keys included) inside a parsed value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, str):
        yield value


def var_refs(value: Any) -> set[str]:
    return {m for s in strings(value) for m in _VAR_REF.findall(s)}


def terraform_binary() -> str | None:
    return shutil.which("terraform")


#: `terraform console` tests run where a binary is on PATH (it is no PyPI package).
needs_terraform = pytest.mark.skipif(terraform_binary() is None, reason="no terraform binary")


def console(
    files: list[Path],
    variables: Mapping[str, Any],
    expression: str,
    tmp: Path,
    extra_locals: Mapping[str, Any] | None = None,
) -> Any:
    """Evaluate `jsonencode(<expression>)` over `files` with `terraform console`.

    The files may use variables (given here as values; each is declared with a null default)
    and `extra_locals`, nothing else: no resources, data sources or providers.
    """
    binary = terraform_binary()
    assert binary is not None
    for path in files:
        shutil.copy(path, tmp / path.name)
    refs = {m for path in files for m in _VAR_REF.findall(path.read_text(encoding="utf-8"))}
    assert set(variables) <= refs, f"unused test variables {sorted(set(variables) - refs)}"
    stubs = "".join(f'variable "{name}" {{\n  default = null\n}}\n' for name in sorted(refs))
    (tmp / "stub_variables.tf").write_text(stubs, encoding="utf-8")
    if extra_locals:
        body = "".join(f"  {k} = {json.dumps(v)}\n" for k, v in extra_locals.items())
        (tmp / "stub_locals.tf").write_text(f"locals {{\n{body}}}\n", encoding="utf-8")
    (tmp / "terraform.tfvars.json").write_text(json.dumps(dict(variables)), encoding="utf-8")
    done = subprocess.run(
        [binary, "console"],
        input=f"jsonencode({expression})\n",
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=120,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
        },
    )
    assert done.returncode == 0, done.stderr
    return json.loads(json.loads(done.stdout.strip()))
