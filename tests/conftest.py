"""Shared test plumbing: hypothesis profiles, and a place for tests to report figures.

Locally hypothesis explores new examples every run (that is how it finds bugs); CI sets
`HYPOTHESIS_PROFILE=ci`, which derandomises it so a green commit stays green on a clean
clone and a red one is reproducible.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("planner figures")
        for line in REPORT:
            terminalreporter.write_line(line)
