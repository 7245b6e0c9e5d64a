"""Schema migrations (Alembic, configured in code) and the start-up check ``serve`` relies on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from bot.store.db import StoreError, make_engine, sqlite_path, translated
from bot.store.urls import mask_url

# Found by name: the migrations import the store, not the other way round.
MIGRATIONS_DIR = Path(str(files("migrations")))


class SchemaError(Exception):
    """The database schema does not match this version of resetbot; the message says what to do."""


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config built in code: the packaged migrations, and ``url`` if given.

    Without a URL, ``migrations/env.py`` takes ``database_url`` from resetbot's settings.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation would choke on a '%' in a URL-encoded password.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head() -> str:
    """The newest revision this code knows."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None, "migrations/versions has no revisions"
    return revision


def current(url: str) -> str | None:
    """The database's revision, or None when it was never migrated."""
    engine = make_engine(url)
    try:
        with _naming_the_file(url), translated(), engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


@contextmanager
def _naming_the_file(url: str) -> Iterator[None]:
    """SQLite's "unable to open database file" says neither which file nor why: say both."""
    try:
        yield
    except StoreError as exc:
        path = sqlite_path(url)
        if path is None:
            raise
        folder = os.path.dirname(path)
        why = (
            f"its folder {folder} does not exist"
            if not os.path.isdir(folder)
            else "no permission"
            if not os.access(folder, os.W_OK)
            or (os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK))
            else str(exc)
        )
        raise SchemaError(f"cannot open the SQLite store {path}: {why}") from exc


def is_at_head(url: str) -> bool:
    return current(url) == head()


def upgrade(url: str, revision: str = "head") -> None:
    try:
        with _naming_the_file(url), translated():
            command.upgrade(alembic_config(url), revision)
    except CommandError as exc:
        raise SchemaError(str(exc)) from exc


def downgrade(url: str, revision: str) -> None:
    try:
        with translated():
            command.downgrade(alembic_config(url), revision)
    except CommandError as exc:
        raise SchemaError(str(exc)) from exc


def _known(revision: str) -> bool:
    script = ScriptDirectory.from_config(alembic_config())
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def ensure_schema(url: str, *, create: bool = True) -> str | None:
    """Make sure the schema is at head before serving, or raise SchemaError saying why not.

    Returns what it did, for the caller to log ("migrated … from … to …"), or None.

    SQLite is migrated here: it is one process's file, nobody else can race the migration.
    PostgreSQL is never migrated at start-up: several replicas starting together would race,
    so an operator (or the Procfile's release step) runs ``resetbot db upgrade`` once.
    Without ``create``, a missing SQLite file is refused (a wrong path or a deleted store
    must not come back empty).
    """
    path = sqlite_path(url)
    if not create and path is not None and not os.path.exists(path):
        raise SchemaError(
            f"the SQLite store {path} does not exist: run `resetbot db upgrade` to create it"
        )
    target = head()
    found = current(url)
    if found == target:
        return None
    where = mask_url(url)
    if found is not None and not _known(found):
        raise SchemaError(
            f"the database ({where}) is at revision {found}, which this version of resetbot "
            f"does not know (newer code migrated it?); expected {target}"
        )
    if url.startswith("sqlite"):
        upgrade(url)
        return f"migrated {where} from {found or 'an empty database'} to {target}"
    state = f"at revision {found}" if found else "not initialised"
    raise SchemaError(
        f"the database ({where}) is {state}, this resetbot needs {target}: "
        "run `resetbot db upgrade` first"
    )
