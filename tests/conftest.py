"""Shared test plumbing: a place for tests to report figures at the end of the run."""

from __future__ import annotations

import pytest

REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("planner figures")
        for line in REPORT:
            terminalreporter.write_line(line)
