"""The soak run's short version in the default suite: a few hundred requests through the whole
life-cycle with faults, against `resetbot serve` on SQLite, and no invariant broken."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.run import plan_for, soak


@pytest.mark.slow
def test_a_short_soak_breaks_no_invariant(tmp_path: Path) -> None:
    report = soak(plan_for("short", "sqlite"), tmp_path, progress=lambda _: None)
    (tmp_path / "report.json").write_text(str(report.as_dict()))
    assert report.violations == [], f"{report.summary()}\nlogs and report in {tmp_path}"
    assert report.figures["sender_trouble"] == 0, report.notes
    assert sum(report.figures["faults"].values()) > 0
