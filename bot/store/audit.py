"""Audit export: the append-only event log streamed out as CSV or JSON Lines, in id order."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.db import Store, translated
from bot.store.models import AuditEvent

Format = Literal["csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl")
COLUMNS = ("id", "at", "actor", "action", "request_id", "provider", "target", "outcome", "details")
BATCH = 1000  # rows fetched per round trip; memory stays flat however long the log is

_table = AuditEvent.__table__


@contextmanager
def _reading(source: Session | Store) -> Iterator[Session]:
    if isinstance(source, Session):
        yield source
        return
    # A deferred BEGIN on SQLite: a long export must not hold the write lock the bot needs.
    with translated(), source.engine.connect() as conn:
        conn.execution_options(sqlite_begin="DEFERRED")
        with Session(bind=conn) as session, session.begin():
            yield session


def _rows(session: Session, since: datetime | None) -> Iterator[dict[str, Any]]:
    stmt = select(*(_table.c[name] for name in COLUMNS)).order_by(_table.c.id)
    if since is not None:
        stmt = stmt.where(_table.c.at >= _aware(since))
    # yield_per streams: a server-side cursor on PostgreSQL, stepwise fetches on SQLite.
    result = session.execute(stmt, execution_options={"yield_per": BATCH})
    for row in result:
        yield dict(row._mapping)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["at"] = row["at"].isoformat()
    return out


def export(
    source: Session | Store,
    fmt: Format,
    out: TextIO,
    since: datetime | None = None,
) -> int:
    """Write every event at or after ``since`` (naive = UTC) to ``out``; the number written.

    CSV has one header row and ``details`` as a JSON object in one cell; JSON Lines has one
    object per line. Values are written as stored (no spreadsheet-formula escaping).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    count = 0
    with _reading(source) as session:
        if fmt == "csv":
            writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            for row in _rows(session, since):
                flat = _flat(row)
                flat["details"] = json.dumps(row["details"], sort_keys=True, ensure_ascii=False)
                writer.writerow(flat)
                count += 1
        else:
            for row in _rows(session, since):
                out.write(json.dumps(_flat(row), ensure_ascii=False) + "\n")
                count += 1
    return count


def read_export(fmt: Format, stream: TextIO) -> Iterator[dict[str, Any]]:
    """Parse what ``export`` wrote back into rows shaped like the table (for checks and tools)."""
    if fmt == "csv":
        for raw in csv.DictReader(stream):
            row: dict[str, Any] = {name: (raw[name] or None) for name in COLUMNS}
            row["id"] = int(raw["id"])
            row["at"] = datetime.fromisoformat(raw["at"])
            row["details"] = json.loads(raw["details"])
            yield row
    elif fmt == "jsonl":
        for line in stream:
            if line.strip():
                row = json.loads(line)
                row["at"] = datetime.fromisoformat(row["at"])
                yield row
    else:
        raise ValueError(f"unknown export format {fmt!r}")
