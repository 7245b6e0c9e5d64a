"""Migrations: the migrated schema is the models' schema, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from bot.store import migrate
from bot.store.db import make_engine
from bot.store.models import Base

TABLES = {
    "alembic_version",
    "approvals",
    "audit_events",
    "message_copies",
    "audit_outbox",
    "deliveries_seen",
    "reset_requests",
    "role_grants",
}


def differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrated_schema_matches_models(db_url: str) -> None:
    """Autogenerate finds nothing to change after upgrading to head."""
    migrate.upgrade(db_url)
    assert tables(db_url) == TABLES
    assert differences(db_url) == []


def test_comparison_notices_a_drifted_schema(tmp_path: Path) -> None:
    """The check above has teeth: a missing index is reported."""
    url = f"sqlite:///{tmp_path / 'drift.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_audit_events_at")
    engine.dispose()
    assert [diff[0] for diff in differences(url)] == ["add_index"]  # type: ignore[index]


def test_downgrade_and_upgrade_again(db_url: str) -> None:
    """The initial migration can be undone and redone."""
    migrate.upgrade(db_url)
    assert migrate.is_at_head(db_url)
    migrate.downgrade(db_url, "base")
    assert migrate.current(db_url) is None
    assert tables(db_url) == {"alembic_version"}
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()
    assert differences(db_url) == []


def test_one_linear_history_shipped_with_the_package() -> None:
    """The migrations live inside the installed package, with a single head."""
    assert (migrate.MIGRATIONS_DIR / "env.py").is_file()
    assert (migrate.MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (migrate.MIGRATIONS_DIR / "__init__.py").is_file()
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert script.get_heads() == [migrate.head()]
    assert migrate.head() == "0007"


def test_no_alembic_ini_at_the_top() -> None:
    assert not (Path(__file__).resolve().parents[1] / "alembic.ini").exists()


class TestEnsureSchema:
    def test_sqlite_is_migrated_at_start(self, tmp_path: Path) -> None:
        """serve brings a SQLite file up to date itself: nobody else can race it."""
        url = f"sqlite:///{tmp_path / 'new.db'}"
        said = migrate.ensure_schema(url)
        assert said == f"migrated {url} from an empty database to {migrate.head()}"
        assert migrate.is_at_head(url)
        assert migrate.ensure_schema(url) is None  # nothing to do the second time

    @pytest.mark.postgres
    def test_postgres_behind_head_is_refused(self, pg_url: str) -> None:
        """On PostgreSQL serve never migrates (replicas would race): it says what to run."""
        with pytest.raises(migrate.SchemaError) as info:
            migrate.ensure_schema(pg_url)
        assert "run `resetbot db upgrade` first" in str(info.value)
        assert "not initialised" in str(info.value)
        assert migrate.current(pg_url) is None
        migrate.upgrade(pg_url)
        migrate.ensure_schema(pg_url)

    def test_unknown_revision_is_refused(self, tmp_path: Path) -> None:
        """A database migrated by newer code is not touched."""
        url = f"sqlite:///{tmp_path / 'future.db'}"
        migrate.upgrade(url)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'ffff'")
        engine.dispose()
        with pytest.raises(migrate.SchemaError, match="does not know"):
            migrate.ensure_schema(url)

    def test_password_is_not_in_the_message(self, pg_url: str) -> None:
        from sqlalchemy.engine import make_url

        url = make_url(pg_url).set(password="SENTINEL-pw").render_as_string(hide_password=False)  # noqa: S106
        with pytest.raises(migrate.SchemaError) as info:
            migrate.ensure_schema(url)  # trust auth: the password is accepted and ignored
        assert "SENTINEL" not in str(info.value)
