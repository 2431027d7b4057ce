"""Build the scheduled-scaling Lambda's deployment zip, reproducibly.

    python tools/build_lambda.py [--out build/lambda/scheduled_scaling.zip]

The bundle holds `lambdas/`, the `controlplane` package (without `controlplane/sim`, which
needs moto) and the package's runtime dependencies as wheels for the Lambda platform, at the
exact versions of `constraints.txt`. The platform is the python3.12 runtime (Amazon Linux
2023, glibc 2.34, x86_64): numpy 2.3+ ships only manylinux_2_28 wheels, which the python3.11
runtime (Amazon Linux 2, glibc 2.26) cannot load. pymesos is the optional `framework` extra
and is left out: the Lambda reads Mesos over the operator API.

Reproducible: the same commit and constraints give the same bytes. Entries are sorted, carry a
fixed timestamp (1980-01-01) and fixed permissions, and no bytecode is included.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "build" / "lambda" / "scheduled_scaling.zip"
#: Wheel platforms the runtime's glibc 2.34 loads (pip takes only what is listed).
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
PYTHON_VERSION = "3.12"
#: Source trees copied into the bundle, and what is left out of them.
SOURCES = ("controlplane", "lambdas")
EXCLUDED = ("controlplane/sim",)
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def requirements() -> list[str]:
    """The package's runtime dependencies (no extras) from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"])


def install_dependencies(target: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(target),
        *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
        "--only-binary=:all:",
        "--constraint",
        str(ROOT / "constraints.txt"),
        *requirements(),
    ]
    subprocess.run(command, check=True)


def copy_sources(target: Path) -> None:
    for name in SOURCES:
        for path in sorted((ROOT / name).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if any(rel.as_posix().startswith(ex + "/") for ex in EXCLUDED):
                continue
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)


def _bundled(path: Path) -> bool:
    parts = path.parts
    return "__pycache__" not in parts and path.suffix != ".pyc"


def write_zip(tree: Path, out: Path) -> str:
    """Zip `tree` deterministically into `out`; returns the sha256 of the zip."""
    out.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in tree.rglob("*") if p.is_file() and _bundled(p.relative_to(tree)))
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(tree).as_posix(), FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permissions below are read
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(out)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def build(out: Path = DEFAULT_OUT) -> str:
    with tempfile.TemporaryDirectory(prefix="lambda-bundle-") as work:
        tree = Path(work) / "bundle"
        install_dependencies(tree)
        copy_sources(tree)
        return write_zip(tree, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="zip to write")
    args = parser.parse_args(argv)
    digest = build(args.out)
    size = args.out.stat().st_size
    print(f"{args.out} {size / 1e6:.1f} MB sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
