"""Reliability figures, counted by the tests and printed at the end of the run."""

from __future__ import annotations

import pytest

from tests.reliability.reliability_support import FIGURES

FIGURE_NAMES = {
    "concurrent_submissions": "concurrent approval submissions sent",
    "replica_submissions": "  of them across two `resetbot serve` replicas",
    "slack_retries": "Slack retries delivered",
    "crashes": "servers killed mid-call",
    "provider_faults": "provider faults injected",
    "slack_faults": "Slack API faults injected",
    "hypothesis_examples": "hypothesis examples run",
    "authorization_cases": "authorization cases checked",
    "secrets_tracked": "sentinel secrets tracked",
    "secret_places_scanned": "places scanned for them",
    "secrets_found": "secrets found",
    "limit_refusals": "flood attempts refused",
}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures the README's Reliability section quotes."""
    if not FIGURES:
        return
    terminalreporter.write_sep("-", "reliability figures")
    for key, label in FIGURE_NAMES.items():
        if key in FIGURES or key == "secrets_found":
            terminalreporter.write_line(f"{label}: {FIGURES.get(key, 0)}")
    for key in sorted(set(FIGURES) - set(FIGURE_NAMES)):
        terminalreporter.write_line(f"{key}: {FIGURES[key]}")
