"""Workloads: the synthetic day, the Alibaba v2017 importer on the real file, plain CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from controlplane.demo.workload import (
    Arrival,
    Workload,
    WorkloadError,
    alibaba,
    concurrent_demand,
    csv_trace,
    load_trace,
    synthetic,
)
from tests.support.contract_replay import PROPERTY

ROOT = Path(__file__).resolve().parents[2]
ALIBABA = next(
    (
        p
        for p in (
            ROOT.parent / "shared/data/alibaba-v2017-batch/batch_task.csv",
            Path("/work/shared/data/alibaba-v2017-batch/batch_task.csv"),
        )
        if p.exists()
    ),
    None,
)
needs_alibaba = pytest.mark.skipif(ALIBABA is None, reason="../shared/data is not beside the repo")


def test_synthetic_is_deterministic_per_seed_and_diurnal() -> None:
    a, b, c = synthetic(24, seed=1), synthetic(24, seed=1), synthetic(24, seed=2)
    assert a == b and a.arrivals != c.arrivals
    starts = np.array([x.submit_s for x in a.arrivals]) / 3600
    batch = starts[
        [x.kind == "batch" and not (x.job or "").startswith("burst") for x in a.arrivals]
    ]
    afternoon = np.sum((batch >= 13) & (batch < 17))
    night = np.sum((batch >= 1) & (batch < 5))
    assert afternoon > 2 * night
    kinds = {x.kind for x in a.arrivals}
    assert kinds == {"batch", "service"}
    assert any("unique_host" in x.constraints for x in a.arrivals)
    assert any("balanced_zone" in x.constraints for x in a.arrivals)


@PROPERTY
@given(
    st.lists(
        st.tuples(st.integers(0, 100), st.integers(1, 50), st.integers(1, 8), st.integers(0, 4)),
        max_size=30,
    ),
    st.lists(st.integers(0, 160), min_size=1, max_size=20),
)
def test_concurrent_demand_matches_counting_by_hand(
    tasks: list[tuple[int, int, int, int]], instants: list[int]
) -> None:
    work = Workload(
        tuple(
            Arrival(float(s), float(d), float(c), 100.0 * c, gpus=float(g)) for s, d, c, g in tasks
        ),
        "test",
    )
    times = np.array(instants, dtype=float)
    cpus, mem, gpus = concurrent_demand(work, times)
    for i, t in enumerate(instants):
        live = [(c, g) for s, d, c, g in tasks if s <= t < s + d]
        assert cpus[i] == pytest.approx(sum(c for c, _ in live))
        assert mem[i] == pytest.approx(100.0 * sum(c for c, _ in live))
        assert gpus[i] == pytest.approx(sum(g for _, g in live))


@needs_alibaba
def test_alibaba_real_trace_one_hour() -> None:
    assert ALIBABA is not None
    work = alibaba(ALIBABA, hours=1, max_instances=3)
    assert len(work.arrivals) > 100
    assert all(a.duration_s > 0 and 0 < a.cpus <= 64 and a.mem > 0 for a in work.arrivals)
    assert all(a.submit_s < 3600 for a in work.arrivals)
    assert set(work.skipped) <= {"no request", "no duration", "zero request"}
    one_each = alibaba(ALIBABA, hours=1, max_instances=1)
    assert len(one_each.arrivals) < len(work.arrivals) <= 3 * len(one_each.arrivals)
    assert load_trace(ALIBABA, hours=1).source.startswith("alibaba(")


def test_csv_round_trip_with_optional_columns(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    path.write_text("job,submit_s,duration_s,cpus,mem,gpus\nj1,10,60,1.5,2048,1\n,0,30,1,512,\n")
    work = load_trace(path)
    assert work.arrivals == (
        Arrival(0.0, 30.0, 1.0, 512.0, gpus=0.0, job=None),
        Arrival(10.0, 60.0, 1.5, 2048.0, gpus=1.0, job="j1"),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("submit_s,duration_s,cpus\n1,2,3\n", "missing columns \\['mem'\\]"),
        ("submit_s,duration_s,cpus,mem,colour\n1,2,3,4,red\n", "unknown columns \\['colour'\\]"),
        ("submit_s,duration_s,cpus,mem\n1,2,x,4\n", ":2: cpus 'x' is not a number"),
        ("submit_s,duration_s,cpus,mem\n1,2,3,4\n1,0,3,4\n", ":3: duration_s 0 out of range"),
        ("submit_s,duration_s,cpus,mem\n1,2,-3,4\n", ":2: cpus -3 out of range"),
        ("submit_s,duration_s,cpus,mem\n1,2,3\n", ":2: 3 columns, expected 4"),
        ("submit_s,duration_s,cpus,mem\n1,inf,3,4\n", "not finite"),
    ],
)
def test_bad_csv_names_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(WorkloadError, match=message):
        csv_trace(path)


def test_unknown_trace_format_lists_the_accepted_headers(tmp_path: Path) -> None:
    path = tmp_path / "what.csv"
    path.write_text("time,cores\n1,2\n")
    with pytest.raises(WorkloadError, match="expected the Alibaba v2017 batch_task header"):
        load_trace(path)
    with pytest.raises(WorkloadError, match="No such file"):
        load_trace(tmp_path / "absent.csv")


def test_the_gpu_day_adds_gpu_training_jobs_to_the_synthetic_day() -> None:
    from controlplane.demo.workload import synthetic_gpu  # noqa: PLC0415

    day, gpu = synthetic(hours=12), synthetic_gpu(hours=12)
    extra = [a for a in gpu.arrivals if a.gpus]
    assert extra and all(a.gpus == 1.0 and a.job.startswith("train-") for a in extra)  # type: ignore[union-attr]
    assert len(gpu.arrivals) == len(day.arrivals) + len(extra)
    assert len({a.job for a in extra}) >= 2  # several jobs: the pool empties between them
