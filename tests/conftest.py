"""Shared test plumbing: hypothesis profiles, moto as the embedded world runs it, and a
place for tests to report figures.

Locally hypothesis explores new examples every run (that is how it finds bugs); CI sets
`HYPOTHESIS_PROFILE=ci`, which derandomises it so a green commit stays green on a clean
clone and a red one is reproducible.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from controlplane.sim import moto_request_ids, moto_transactions

# Every moto server in the tests copies a table once per transaction, as the world's does
# (`tests/sim/test_moto_transactions.py` holds it to moto's own answers), whatever ran first.
moto_transactions.install()
moto_request_ids.install()

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("planner figures")
        for line in REPORT:
            terminalreporter.write_line(line)
