"""Fixtures for the domain's tests: no server, a SQLite file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from domain_support import Domain, make_domain


@pytest.fixture
def domain(tmp_path: Path) -> Iterator[Domain]:
    yield from make_domain(tmp_path)
