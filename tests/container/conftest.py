"""Shared bits of the container tests: a report that lands in pytest's terminal summary."""

from __future__ import annotations

import pytest

_REPORT = pytest.StashKey[dict[str, str]]()


@pytest.fixture(scope="session")
def container_report(pytestconfig: pytest.Config) -> dict[str, str]:
    """Facts worth seeing without -s (image size, build and stop times); printed at the end."""
    return pytestconfig.stash.setdefault(_REPORT, {})


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    report = config.stash.get(_REPORT, None)
    if not report:
        return
    terminalreporter.section("attnflow container image")
    for key, value in report.items():
        terminalreporter.write_line(f"{key}: {value}")
