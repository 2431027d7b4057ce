"""Packing sanity on the Panigrahy vector bin-packing instances (known optima).

The planner must never use fewer bins than the proven optimum (that would mean it
over-commits or miscounts) and must place every item. The mean gap is reported, not
asserted: raising packing quality is the benchmark's job (`bench/`).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

import pytest

from controlplane.planning import plan
from controlplane.sim.vbp import VbpInstance, parse_vbp, read_archive, read_optima, to_snapshot
from tests.conftest import REPORT

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "vbp-panigrahy"
ARCHIVE = DATA / "Panigrahy_instances.tar.gz"
OPTIMA = DATA / "Panigrahy_base_OPT.csv"
#: Replicas of each (class, n, d) checked here; the benchmark runs all ten.
REPLICAS = {"0", "1"}


def _instances() -> list[tuple[VbpInstance, int]]:
    if not ARCHIVE.exists() or not OPTIMA.exists():
        pytest.skip(f"Panigrahy data not found at {DATA} (shared/ is beside the checkout)")
    optima = read_optima(OPTIMA)
    return [
        (inst, optima[inst.name])
        for inst in read_archive(ARCHIVE)
        if inst.name in optima and inst.name.rsplit("_", 1)[1] in REPLICAS
    ]


def test_never_fewer_bins_than_the_optimum_and_report_the_gap() -> None:
    gaps: dict[str, list[float]] = defaultdict(list)
    for inst, optimum in _instances():
        result = plan(to_snapshot(inst))
        bins = result.summary.new_instances
        assert result.summary.unplaced == 0, inst.name
        assert result.summary.placed == inst.item_count, inst.name
        assert bins >= optimum, f"{inst.name}: {bins} bins < optimum {optimum}"
        assert result.summary.lower_bound <= optimum, inst.name
        gaps[inst.name.split("_")[0]].append((bins - optimum) / optimum)
    assert gaps, "no instance with a known optimum was read"
    every = [g for v in gaps.values() for g in v]
    per_class = ", ".join(f"{k} {100 * statistics.mean(v):.2f}%" for k, v in sorted(gaps.items()))
    REPORT.append(
        f"Panigrahy ({len(every)} instances, replicas {sorted(REPLICAS)}): mean gap to optimum "
        f"{100 * statistics.mean(every):.2f}%, worst {100 * max(every):.1f}% ({per_class})"
    )


def test_parser_reads_multiplicities() -> None:
    inst = parse_vbp("x", "2\n10 10\n2\n3 4 2\n5 5 1\n")
    assert inst.capacity == (10.0, 10.0)
    assert inst.item_count == 3
    result = plan(to_snapshot(inst))
    assert result.summary.new_instances == 2  # (3,4)+(3,4) fit one bin; (5,5) with them does not
