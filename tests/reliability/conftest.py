"""Reliability fixtures: the rig on SQLite (or PostgreSQL), and the figures printed at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_support import FIGURES

from bot.rig import Rig

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


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with Rig(tmp_path) as r:
        yield r
    assert r.standin.violations == [], r.standin.violations


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """``make_rig(**options)`` for tests that need another configuration."""
    rigs: list[Rig] = []

    def make(**options: Any) -> Rig:
        workdir = tmp_path / f"rig{len(rigs)}"
        workdir.mkdir(parents=True, exist_ok=True)
        rig = Rig(workdir, **options)
        rigs.append(rig.start())
        return rig

    yield make
    for r in rigs:
        r.stop()
    for r in rigs:
        assert r.standin.violations == [], r.standin.violations


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
