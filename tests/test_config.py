"""Configuration: precedence (defaults < file < env < arguments), errors named field by field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from controlplane.cli import main
from controlplane.config import ConfigError, load_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "controlplane.toml"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("CONTROLPLANE_"):
            monkeypatch.delenv(key)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_valid_and_read_in_full() -> None:
    s = load_settings(EXAMPLE)
    assert s.cluster == "prod"
    assert s.mesos.masters[0] == "mesos-master-1:5050"
    assert s.pools["batch"].max_idle == 4
    assert s.pools["web"].fitness == "spread"
    assert s.loop.drain_settle_s == 30
    adapter = s.adapter()
    assert adapter.cluster == "prod"
    assert adapter.rules_for("batch").hourly_price == 0.768
    assert adapter.rules_for("other") == s.default_rules


def test_env_overrides_file_and_arguments_override_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, 'cluster = "a"\ndry_run = false\n[loop]\ninterval_s = 10\n')
    monkeypatch.setenv("CONTROLPLANE_DRY_RUN", "true")
    monkeypatch.setenv("CONTROLPLANE_MESOS__MASTERS", '["m1:5050", "m2:5050"]')
    monkeypatch.setenv("CONTROLPLANE_LOOP__INTERVAL_S", "7")
    s = load_settings(path)
    assert s.dry_run is True
    assert s.mesos.masters == ["m1:5050", "m2:5050"]
    assert s.loop.interval_s == 7
    assert load_settings(path, dry_run=False).dry_run is False


def test_cluster_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, "dry_run = true\n"))
    assert info.value.problems == ["cluster: missing required field"]


def test_every_problem_is_named(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'cluster = "a"\n[loop]\ninterval_s = -1\n[pools.batch]\nmax_idel = 2\n[aws]\nregion = ""\n',
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    problems = info.value.problems
    assert "pools.batch.max_idel: unknown field" in problems
    assert any(p.startswith("loop.interval_s: Input should be greater than 0") for p in problems)
    assert any(p.startswith("aws.region:") for p in problems)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('cluster = "a"\n[pools.b]\nmin_idle = 3\nmax_idle = 1\n', "pools.b: min_idle 3 exceeds"),
        ('cluster = "a"\n[loop]\nlease_ttl_s = 10\nlease_margin_s = 5\n', "less than half"),
        ('cluster = "a"\n[demand]\nsource = "http"\n', "source 'http' needs url"),
        ('cluster = "a"\n[mesos]\nprincipal = "p"\n', "principal and secret"),
        ('cluster = "a b"\n', "cluster: String should match pattern"),
        ('cluster = "a"\n[mesos]\nmasters = []\n', "mesos.masters: List should have at least 1"),
    ],
)
def test_cross_field_rules(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, text))
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "cluster = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")


def test_a_secret_is_never_echoed(tmp_path: Path) -> None:
    path = _write(tmp_path, 'cluster = "a"\n[mesos]\nprincipal = "p"\nsecret = 5\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "5" not in " ".join(p for p in info.value.problems if "secret" in p)
    ok = load_settings(_write(tmp_path, 'cluster="a"\n[mesos]\nprincipal="p"\nsecret="hush"\n'))
    assert "hush" not in repr(ok)
    assert ok.mesos.secret is not None and ok.mesos.secret.get_secret_value() == "hush"


def _reads_as_number(text: str) -> bool:
    try:
        TypeAdapter(float).validate_python(text)
    except ValidationError:
        return False
    return True


TIMINGS = [
    ("loop", "interval_s"),
    ("aws", "discovery_ttl_s"),
    ("aws", "launch_deadline_s"),
    ("aws", "backoff_s"),
    ("mesos", "timeout_s"),
    ("mesos", "refuse_seconds"),
]


@settings(max_examples=40, deadline=None)
@given(
    field=st.sampled_from(TIMINGS),
    value=st.one_of(
        st.floats(max_value=0, allow_nan=False, allow_infinity=False),
        st.text().filter(lambda t: not _reads_as_number(t)),
    ),
)
def test_any_bad_timing_is_named_exactly(field: tuple[str, str], value: float | str) -> None:
    section, key = field
    with pytest.raises(ConfigError) as info:
        load_settings(None, cluster="a", **{section: {key: value}})
    assert [p.split(":")[0] for p in info.value.problems] == [f"{section}.{key}"]


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE)]) == 0
    assert "ok: cluster prod" in capsys.readouterr().out
    bad = _write(tmp_path, 'cluster = "a"\n[pools.x]\nmin_idle = -1\nfitness = "best"\n')
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "invalid (2 problems)" in err
    assert "  pools.x.min_idle: Input should be greater than or equal to 0" in err
    assert "  pools.x.fitness: Input should be" in err


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("a = " + "[" * 5000 + "]" * 5000 + "\n", {}, "nested too deeply"),
        ('cluster = "c"\n[loop]\ninterval_s = inf\n', {}, "loop.interval_s: Input should be"),
        ('cluster = "c"\n', {"CONTROLPLANE_MESOS__MASTERS": "notjson"}, "MESOS__MASTERS"),
        ('cluster = "c"\n', {"CONTROLPLANE_LOOP__INTERVALS": "5"}, "unknown setting"),
        ('cluster = "c"\n', {"CONTROLPLANE_DEMAND__ACCES__TOKENS_FILE": "/x"}, "unknown"),
    ],
)
def test_bad_configuration_is_one_line_per_problem_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    env: dict[str, str],
    message: str,
) -> None:
    path = _write(tmp_path, text)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_known_env_names_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTROLPLANE_CLUSTER", "c")
    monkeypatch.setenv("CONTROLPLANE_POOLS__BATCH__MAX_IDLE", "3")
    monkeypatch.setenv("CONTROLPLANE_DEFAULT_RULES__MAX_IDLE", "2")
    monkeypatch.setenv("CONTROLPLANE_DEMAND__ACCESS__TOKENS_REFRESH_S", "60")
    s = load_settings(None)
    assert s.pools["batch"].max_idle == 3 and s.default_rules.max_idle == 2
