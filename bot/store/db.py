"""Engine and session handling: the one place sessions are opened, committed and closed."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Executable, Row, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import metrics
from bot.store.urls import mask_url

# What the layers above call a transaction; they never import SQLAlchemy themselves.
Tx = Session

# Session.info keys: whether audit events also go to the outbox; the events recorded so far.
OUTBOX = "resetbot.outbox"
AUDITED = "resetbot.audited"

POOL_SIZE = 16  # connections kept open
SQLITE_CACHE_KIB = 256  # page cache per SQLite connection
POOL_OVERFLOW = 48  # more while busy: 32 workers + 16 request threads + sweeper + heartbeat


def _lasting(exc: BaseException | None) -> bool:
    """Whether a failure, or one it arose from, says the store cannot take writes (SQLite rolls
    a transaction back when the disk is full, so what surfaces can be a lost savepoint)."""
    seen = 0
    while exc is not None and seen < 8:
        if any(word in str(exc).lower() for word in _LASTING):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class StoreError(Exception):
    """The store failed; ``str()`` is the driver's first line, without statements or values."""


class StoreUnavailable(StoreError):
    """The database is down, unreachable, or locked past its time-out."""


# Write failures that last until an operator acts: every later write would fail the same way.
_LASTING = ("full", "readonly", "read-only", "disk i/o", "unable to open")
PROBE_INTERVAL = 2.0  # seconds between write probes while the store is failing


def sqlite_path(url: str) -> str | None:
    """The file behind an SQLite URL, or None (another backend, or in memory)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if not parsed.drivername.startswith("sqlite"):
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return os.path.abspath(database)


def first_line(exc: BaseException) -> str:
    """The driver's own message, without SQLAlchemy's statement and parameter dump."""
    origin: BaseException = getattr(exc, "orig", None) or exc
    lines = str(origin).strip().splitlines()
    return lines[0] if lines else type(origin).__name__


@contextmanager
def translated() -> Iterator[None]:
    """SQLAlchemy's errors as the store's own, chained to the original."""
    try:
        yield
    except OperationalError as exc:
        raise StoreUnavailable(first_line(exc)) from exc
    except SQLAlchemyError as exc:
        raise StoreError(first_line(exc)) from exc


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned for the backend: SQLite in WAL mode with a busy timeout, PG pre-pinged."""
    in_memory = ":memory:" in url or url in ("sqlite://", "sqlite+pysqlite://")
    if not in_memory:
        # Every request thread and worker thread may hold a connection at once. SQLAlchemy's
        # default (5 + 10 overflow) made quick reads queue for a connection behind slow
        # background work, and closed and reopened overflow connections all the time.
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("max_overflow", POOL_OVERFLOW)
        # The connection just returned is the one to hand out next: its caches are warm (a FIFO
        # queue cycles every request through cold SQLite page caches), and on PostgreSQL the
        # ones left idle can be timed out.
        kwargs.setdefault("pool_use_lifo", True)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy issue BEGIN itself (the driver's implicit transactions would let
            # two writers both read before either writes); IMMEDIATE takes the write lock first.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            if ":memory:" not in url and url not in ("sqlite://", "sqlite+pysqlite://"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # Each pooled connection has its own page cache, which fills as the file grows: with
            # a pool this size the default lets RSS creep up. The OS caches the file anyway.
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Long read-only work (an audit export) asks for a deferred BEGIN instead, so that
            # it does not hold the write lock: execution_options(sqlite_begin="DEFERRED").
            # Single-statement reads (Store.read) ask for none: the statement is its own read
            # transaction, and the BEGIN/COMMIT pair would cost more than the query.
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            if mode == "NONE":
                return
            conn.exec_driver_sql("BEGIN DEFERRED" if mode == "DEFERRED" else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Store:
    """Owns the engine; ``with store.session() as s:`` commits on success, rolls back on error."""

    def __init__(self, url: str, *, engine: Engine | None = None, outbox: bool = False) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        # The file this store opened: SQLite keeps writing to a deleted or replaced file's
        # old inode, so every use checks that the path still leads to it.
        self.path = sqlite_path(url)
        self._identity: tuple[int, int] | None = None
        if self.path is not None:
            with contextlib.suppress(OSError):
                found = os.stat(self.path)
                self._identity = (found.st_dev, found.st_ino)
        self._failure: tuple[str, float] | None = None  # a lasting write failure, and when
        #: audit events are also queued for the audit webhook
        self.outbox = outbox
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if url.startswith("sqlite") else contextlib.nullcontext()
        )
        # Reads take no write lock on SQLite, so they never queue behind a writer.
        self._readers = sessionmaker(
            self.engine.execution_options(sqlite_begin="DEFERRED"), expire_on_commit=False
        )
        # One statement, no session and no transaction around it: the reads people wait for
        # (role checks, status, pending). On PostgreSQL AUTOCOMMIT spares the BEGIN and
        # ROLLBACK round trips.
        self._single = self.engine.execution_options(
            **(
                {"sqlite_begin": "NONE"}
                if url.startswith("sqlite")
                else {"isolation_level": "AUTOCOMMIT"}
            )
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        # SQLite has one writer at a time. Threads of this process queue here, on a lock that
        # wakes the next one as soon as the last commits, instead of in SQLite's busy handler,
        # which sleeps in growing steps and lets the workers convoy. Other processes (the CLI)
        # still meet busy_timeout.
        self.guard()
        try:
            with translated(), self._write_lock, self._sessions() as session:
                session.info[OUTBOX] = self.outbox
                with session.begin():
                    yield session
                metrics.count_audit(session.info.pop(AUDITED, ()))
        except StoreUnavailable as exc:
            if _lasting(exc):
                self._failure = (
                    f"the store ({mask_url(self.url)}) cannot be written: {exc}",
                    time.monotonic(),
                )
            raise

    def problem(self) -> str | None:
        """Why the store cannot be used now, naming it; None when it can."""
        where = mask_url(self.url)
        if self.path is not None:
            try:
                found = os.stat(self.path)
            except FileNotFoundError:
                return f"the store ({where}) is missing: its file was deleted or moved"
            except OSError as exc:
                return f"the store ({where}) cannot be reached: {exc.strerror}"
            if self._identity is None:
                self._identity = (found.st_dev, found.st_ino)
            elif (found.st_dev, found.st_ino) != self._identity:
                return f"the store ({where}) was replaced by another file; restart to use it"
            if not os.access(self.path, os.W_OK) or not os.access(
                os.path.dirname(self.path), os.W_OK
            ):
                return f"the store ({where}) is read-only"
        if self._failure is not None:
            message, since = self._failure
            if time.monotonic() - since < PROBE_INTERVAL:
                return message
            try:
                self._probe()
            except SQLAlchemyError as exc:
                self._failure = (message, time.monotonic())
                return f"the store ({where}) cannot be written: {first_line(exc)}"
            self._failure = None
        return None

    def guard(self) -> None:
        """Raise StoreUnavailable, saying why, when the store cannot be used."""
        problem = self.problem()
        if problem is not None:
            raise StoreUnavailable(problem)

    def _probe(self) -> None:
        # A write that needs new pages (a value larger than a page), rolled back: it fails
        # while the disk is full or the file read-only, and leaves nothing behind.
        with self.engine.connect() as conn:
            if self.url.startswith("sqlite"):
                with conn.begin() as trans:
                    conn.exec_driver_sql(
                        "INSERT INTO deliveries_seen (key, seen_at) VALUES (?, '2000-01-01')",
                        ("probe:" + "x" * 8192,),
                    )
                    trans.rollback()
            else:
                conn.execute(text("SELECT 1"))

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only: a deferred BEGIN on SQLite (plain BEGIN elsewhere)."""
        self.guard()
        with translated(), self._readers() as session, session.begin():
            yield session

    def read(
        self,
        statement: Executable,
        params: Mapping[str, Any] | None = None,
    ) -> Sequence[Row[Any]]:
        """Run one read-only statement and return its rows (Core rows, no ORM objects).

        For the reads a person waits for (role checks, ``status``, ``pending``): a single
        statement is consistent on its own, and skipping the session, the unit of work and the
        transaction cuts most of its cost. Build ``statement`` once (module level,
        ``bindparam``) so it is not compiled again on every call.
        """
        self.guard()
        with translated(), self._single.connect() as conn:
            return conn.execute(statement, params or {}).all()

    def write_one(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        """Run one statement that writes, committed on its own, and return its rows.

        PostgreSQL only (AUTOCOMMIT: one round trip, no session, no BEGIN or COMMIT): for the
        replay check's insert, made for every delivery. SQLite writes go through ``session()``,
        which queues them on the write lock.
        """
        if self.url.startswith("sqlite"):
            raise ValueError("write_one is for PostgreSQL; SQLite writes use session()")
        self.guard()
        with translated(), self._single.connect() as conn:
            return conn.execute(statement, params or {}).all()

    def ping(self) -> None:
        """Raise StoreError unless the database answers a trivial query."""
        self.guard()
        with translated(), self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
