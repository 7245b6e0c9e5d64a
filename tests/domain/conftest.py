"""Fixtures for the domain's tests: no server, a copy of one prepared SQLite file per test."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.store.db import Store
from bot.store.models import Base
from tests.domain.domain_support import Domain, make_domain, make_template

# In memory where the machine has it: these tests are about rules, not about the disk, and a
# commit's fsync on a busy disk costs more than the test.
SHM = Path("/dev/shm")  # noqa: S108 - mkdtemp makes a private folder in it


@pytest.fixture(scope="session")
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="resetbot-domain-", dir=SHM if SHM.is_dir() else None))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def template(scratch: Path) -> Path:
    return make_template(scratch / "template.db")


@pytest.fixture
def domain(template: Path, scratch: Path) -> Iterator[Domain]:
    workdir = Path(tempfile.mkdtemp(dir=scratch))
    yield from make_domain(template, workdir)


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> Iterator[str]:
    """One PostgreSQL database with the store's tables, emptied for each test that uses it."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"resetbot_domain_{uuid.uuid4().hex[:12]}"
    admin = make_url(pg_admin_url).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # a name made above, not input
    url = make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    store = Store(url)
    Base.metadata.create_all(store.engine)
    store.dispose()
    yield url
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, scratch: Path) -> Iterator[Store]:
    """An empty store on each backend (the schema from the models; migrations have their own
    tests)."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{Path(tempfile.mkdtemp(dir=scratch)) / 'store.db'}")
        Base.metadata.create_all(store.engine)
    else:
        store = Store(request.getfixturevalue("pg_template"))
        with store.session() as tx:
            tx.execute(text(f"TRUNCATE {', '.join(Base.metadata.tables)} RESTART IDENTITY CASCADE"))
    yield store
    store.dispose()
