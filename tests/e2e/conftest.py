"""End-to-end fixtures: the whole bot on loopback (``bot.rig``), on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.rig import Rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with Rig(tmp_path) as r:
        yield r
    assert r.standin.violations == [], r.standin.violations


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[object]:
    """``make_rig(**options)`` for tests that need another configuration."""
    rigs: list[Rig] = []

    def make(**options: object) -> Rig:
        rig = Rig(tmp_path / f"rig{len(rigs)}", **options)  # type: ignore[arg-type]
        rig.workdir.mkdir(parents=True, exist_ok=True)
        rigs.append(rig.start())
        return rig

    yield make
    for r in rigs:
        r.stop()
    for r in rigs:
        assert r.standin.violations == [], r.standin.violations
