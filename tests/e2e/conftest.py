"""End-to-end fixtures: the whole bot on loopback (``bot.rig``), on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.rig import Rig


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
        rig = Rig(tmp_path / f"rig{len(rigs)}", **options)
        rig.workdir.mkdir(parents=True, exist_ok=True)
        rigs.append(rig.start())
        return rig

    yield make
    for r in rigs:
        r.stop()
    for r in rigs:
        assert r.standin.violations == [], r.standin.violations
