"""Shared fixtures: a fresh PostgreSQL database per use, and a migrated store on each backend."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from bot.demo.rig import Rig
from bot.store.db import Store
from bot.store.migrate import upgrade

PG_URL_ENV = "RESETBOT_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_FIXTURES = frozenset({"pg_admin_url", "pg_database", "pg_url"})
# Markers for tests that need something outside Python; the summary says whether they ran.
NEEDS = ("postgres", "unleash", "prometheus", "deployment")
_marked = pytest.StashKey[dict[str, set[str]]]()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _libpq(url: str) -> str:
    """The SQLAlchemy URL as a libpq connection URI psycopg accepts."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """A server where tests may create databases; skipped (failed in CI) when unreachable."""
    url = os.environ.get(PG_URL_ENV) or DEFAULT_PG_URL
    try:
        psycopg.connect(_libpq(url), autocommit=True, connect_timeout=3).close()
    except psycopg.Error as exc:
        where = make_url(url).render_as_string(hide_password=True)
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        reason = f"PostgreSQL not reachable at {where} ({detail}); set {PG_URL_ENV} to use another"
        if in_ci():
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return url


@pytest.fixture
def pg_database(pg_admin_url: str) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty databases (``resetbot_test_<random>``), dropped afterwards."""
    created: list[str] = []

    def create() -> str:
        name = f"resetbot_test_{secrets.token_hex(6)}"
        with psycopg.connect(_libpq(pg_admin_url), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)

    yield create
    with psycopg.connect(_libpq(pg_admin_url), autocommit=True) as conn:
        for name in created:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def pg_url(pg_database: Callable[[], str]) -> str:
    """The URL of one fresh, empty PostgreSQL database."""
    return pg_database()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend: a SQLite file in tmp_path, a fresh PostgreSQL one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'resetbot.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated store on each backend."""
    upgrade(db_url)
    s = Store(db_url)
    yield s
    s.dispose()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """The whole bot on loopback (``bot.demo.rig``); no Block Kit or ack-time violation allowed."""
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


@pytest.hookimpl(tryfirst=True)  # before -m selects on the markers added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    marked: dict[str, set[str]] = {name: set() for name in NEEDS}
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & PG_FIXTURES and not item.get_closest_marker("postgres"):
            item.add_marker(pytest.mark.postgres)
        for name in NEEDS:
            if item.get_closest_marker(name):
                marked[name].add(item.nodeid)
    config.stash[_marked] = marked


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say plainly whether the tests that need PostgreSQL (or a real Unleash) ran."""
    marked = terminalreporter.config.stash.get(_marked, {})
    lines = []
    for name, nodeids in marked.items():
        if not nodeids:
            continue
        counts: dict[str, int] = {}
        reasons: set[str] = set()
        for outcome in ("passed", "failed", "error", "skipped"):
            for report in terminalreporter.stats.get(outcome, []):
                if getattr(report, "nodeid", None) not in nodeids or report.when == "teardown":
                    continue
                counts[outcome] = counts.get(outcome, 0) + 1
                if outcome == "skipped" and isinstance(report.longrepr, tuple):
                    reasons.add(str(report.longrepr[2]).removeprefix("Skipped: "))
        ran = counts.get("passed", 0) + counts.get("failed", 0)
        line = f"{name} tests: {ran} ran, {counts.get('skipped', 0)} skipped"
        if counts.get("error"):
            line += f", {counts['error']} errors"
        lines.append(line)
        lines += [f"  skipped because: {reason}" for reason in sorted(reasons)]
    if lines:
        terminalreporter.write_sep("-", "tests that need outside services")
        for line in lines:
            terminalreporter.write_line(line)
