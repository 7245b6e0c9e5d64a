"""Audit export: CSV and JSON Lines give back exactly what was recorded, streamed in id order."""

from __future__ import annotations

import io
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from bot.store.audit import BATCH, COLUMNS, Format, export, read_export
from bot.store.db import Store
from bot.store.migrate import upgrade
from bot.store.models import AuditEvent
from bot.store.requests import record

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ROWS = 25_000  # tracemalloc slows allocation six-fold: enough rows to tell, few enough to be quick

EVENTS: list[dict[str, Any]] = [
    {
        "actor": "U0REQ",
        "action": "request.filed",
        "request_id": "R1",
        "provider": "flags",
        "target": "tom@example.com",
        "outcome": None,
        "details": {"reason": "locked out"},
    },
    {
        "actor": "U0APP",
        "action": "request.approved",
        "request_id": "R1",
        "provider": "flags",
        "target": "tom@example.com",
        "outcome": None,
        "details": {"note": 'says "ok", then\nleaves; =1+1 ünïcödé ✓'},
    },
    {
        "actor": "system",
        "action": "request.succeeded",
        "request_id": "R1",
        "provider": "flags",
        "target": "tom@example.com",
        "outcome": "ok",
        "details": {},
    },
    {
        "actor": "cli:root",
        "action": "role.granted",
        "request_id": None,
        "provider": "*",
        "target": "U0ALICE",
        "outcome": None,
        "details": {"role": "approver", "n": [1, 2]},
    },
]


def put(store: Store) -> list[dict[str, Any]]:
    """Record EVENTS an hour apart from T0; return them as the table holds them."""
    with store.session() as s:
        for i, fields in enumerate(EVENTS):
            ev = record(
                s,
                actor=fields["actor"],
                action=fields["action"],
                outcome=fields["outcome"],
                provider=fields["provider"],
                target=fields["target"],
                **fields["details"],
            )
            ev.request_id = fields["request_id"]
            ev.at = T0 + timedelta(hours=i)
    with store.session() as s:
        rows = s.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [{column: getattr(row, column) for column in COLUMNS} for row in rows]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_round_trip(store: Store, fmt: Format) -> None:
    """What the log holds comes back unchanged, including quotes, newlines and non-ASCII."""
    stored = put(store)
    out = io.StringIO()
    assert export(store, fmt, out) == len(EVENTS)
    out.seek(0)
    assert list(read_export(fmt, out)) == stored
    assert [row["action"] for row in stored] == [e["action"] for e in EVENTS]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_since(store: Store, fmt: Format) -> None:
    """--since keeps events at or after the moment; a naive moment means UTC."""
    stored = put(store)
    out = io.StringIO()
    assert export(store, fmt, out, since=(T0 + timedelta(hours=2)).replace(tzinfo=None)) == 2
    out.seek(0)
    assert list(read_export(fmt, out)) == stored[2:]


def test_csv_shape(store: Store) -> None:
    """CSV: one header, details as a JSON cell, times in ISO 8601 with an offset."""
    put(store)
    out = io.StringIO()
    export(store, "csv", out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "id,at,actor,action,request_id,provider,target,outcome,details"
    assert lines[1].startswith("1,2025-03-01T12:00:00+00:00,U0REQ,request.filed,R1,flags,")
    assert lines[1].endswith(',"{""reason"": ""locked out""}"')


def test_export_from_a_session(store: Store) -> None:
    """The caller's own session works too."""
    put(store)
    out = io.StringIO()
    with store.session() as s:
        assert export(s, "jsonl", out) == len(EVENTS)


def test_unknown_format(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        export(store, "xml", io.StringIO())  # type: ignore[arg-type]


class Sink(io.TextIOBase):
    """Counts what is written and keeps none of it."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, s: str) -> int:
        self.chars += len(s)
        return len(s)


def fill(store: Store, rows: int) -> None:
    batch = [
        {
            "at": T0,
            "actor": "U0BULK",
            "action": "request.filed",
            "request_id": f"R{i}",
            "provider": "flags",
            "target": f"user{i}@example.com",
            "outcome": None,
            "details": {"reason": "bulk load for the streaming test"},
        }
        for i in range(5000)
    ]
    with store.session() as s:
        for _ in range(rows // len(batch)):
            s.execute(insert(AuditEvent), batch)


def test_export_streams_in_bounded_memory(tmp_path: Any) -> None:
    """25,000 events export in well under the memory that holding them all would take.

    Loaded at once they would take over 10 MB of Python objects; streamed, the peak is one
    batch (about half a megabyte), whatever the length of the log.
    """
    url = f"sqlite:///{tmp_path / 'big.db'}"
    upgrade(url)
    store = Store(url)
    try:
        fill(store, ROWS)
        sink = Sink()
        tracemalloc.start()
        try:
            count = export(store, "jsonl", sink)  # type: ignore[arg-type]
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert count == ROWS
        assert sink.chars > ROWS * 200  # every line really went through
        assert peak < 3_000_000, f"export peaked at {peak / 1e6:.1f} MB"
    finally:
        store.dispose()


@pytest.mark.postgres
def test_postgres_export_uses_a_server_side_cursor(pg_url: str) -> None:
    """On PostgreSQL the rows come through a named (server-side) cursor, BATCH at a time."""
    import psycopg

    upgrade(pg_url)
    store = Store(pg_url)
    cursors: list[type] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM audit_events" in statement:
            cursors.append(type(cursor))

    try:
        fill(store, 5000)
        sink = Sink()
        assert export(store, "csv", sink) == 5000  # type: ignore[arg-type]
        assert BATCH < 5000
        assert cursors and all(issubclass(c, psycopg.ServerCursor) for c in cursors)
    finally:
        store.dispose()
