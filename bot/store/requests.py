"""Compare-and-set state transitions and the audit trail: the store's two invariants."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, text, update
from sqlalchemy.orm import Session

from bot.store.models import AuditEvent, RequestState, ResetRequest, utcnow


def transition(
    session: Session,
    request_id: str,
    expected: RequestState | Iterable[RequestState],
    new: RequestState,
    *,
    guard: ColumnElement[bool] | None = None,
    **values: Any,
) -> bool:
    """Move a request to ``new`` only if it is still in ``expected``; True if this call won.

    One ``UPDATE … WHERE state IN (expected)``: two clicks, two replicas or a Slack retry racing
    for the same request cannot both see the old state, so exactly one of them moves it.
    """
    states = [expected] if isinstance(expected, RequestState) else list(expected)
    conditions = [ResetRequest.id == request_id, ResetRequest.state.in_(states)]
    if guard is not None:  # a further condition checked in the same statement
        conditions.append(guard)
    stmt = (
        update(ResetRequest)
        .where(*conditions)
        .values(state=new, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(stmt)
    assert isinstance(result, CursorResult)
    won = result.rowcount == 1
    if won:
        session.expire_all()
    return won


# An arbitrary, fixed key for PostgreSQL's advisory lock around filing.
_FILING_LOCK = 0x7265_7365_7462_6F74 & 0x7FFF_FFFF_FFFF_FFFF  # "resetbot"


def serialize_filing(session: Session) -> None:
    """Make "count the pending requests, then insert one" atomic across replicas.

    PostgreSQL's READ COMMITTED lets two concurrent filings both count below a limit; a
    transaction-scoped advisory lock queues them (filings are rare and the insert is short).
    SQLite needs nothing: ``BEGIN IMMEDIATE`` already serialises writers.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FILING_LOCK})


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    request: ResetRequest | None = None,
    outcome: str | None = None,
    provider: str | None = None,
    target: str | None = None,
    **details: Any,
) -> AuditEvent:
    """Append an audit event. Callers pass only secret-free facts."""
    event = AuditEvent(
        at=utcnow(),
        actor=actor,
        action=action,
        request_id=request.id if request else None,
        provider=request.provider if request else provider,
        target=(request.target_email or request.target_id) if request else target,
        outcome=outcome,
        details=details,
    )
    session.add(event)
    return event
