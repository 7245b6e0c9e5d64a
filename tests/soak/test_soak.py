"""The soak run's short version as a test: a few hundred requests through the whole life-cycle
with faults, against `resetbot serve` on SQLite, and no invariant broken. Not collected by the
default suite (a minute of it); `.ci/run` runs the same with `python -m tests.soak --size short`,
and `pytest tests/soak` runs this."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.run import plan_for, soak


@pytest.mark.slow
def test_a_short_soak_breaks_no_invariant(tmp_path: Path) -> None:
    report = soak(plan_for("short", "sqlite"), tmp_path, progress=lambda _: None)
    (tmp_path / "report.json").write_text(str(report.as_dict()))
    assert report.violations == [], f"{report.summary()}\nlogs and report in {tmp_path}"
    assert report.figures["sender_trouble"] == {}, report.notes
    assert sum(report.figures["faults"].values()) > 0
