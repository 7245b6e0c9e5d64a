"""Every statement about reset requests: compare-and-set transitions, the audit trail, reads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Row,
    ScalarSelect,
    bindparam,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.db import AUDITED, OUTBOX, Store
from bot.store.models import (
    Approval,
    AuditEvent,
    MessageCopy,
    OutboxEntry,
    RequestState,
    ResetRequest,
    utcnow,
)


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


def heartbeat_unchanged_since(beat: datetime | None) -> ColumnElement[bool]:
    """A transition guard: the dispatch's heartbeat is still ``beat`` (its owner did not
    renew it since it was read)."""
    if beat is None:
        return ResetRequest.dispatch_heartbeat_at.is_(None)
    return ResetRequest.dispatch_heartbeat_at <= beat


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
    """Append an audit event (and, with the audit webhook on, its outbox entry, in the same
    transaction). Callers pass only secret-free facts."""
    event = AuditEvent(
        at=utcnow(),
        actor=actor,
        action=str(action),
        request_id=request.id if request else None,
        provider=request.provider if request else provider,
        target=(request.target_email or request.target_id) if request else target,
        outcome=outcome,
        details=details,
    )
    session.add(event)
    if session.info.get(OUTBOX):
        session.add(OutboxEntry(event=event, stream=event.request_id or ""))
    # Counted by the store once the transaction commits (a lost race records nothing).
    session.info.setdefault(AUDITED, []).append((event.action, event.provider))
    return event


def load(session: Session, request_id: str, *, lock: bool = False) -> ResetRequest | None:
    """One request; ``lock`` holds its row (``FOR UPDATE``) until the transaction ends."""
    stmt = select(ResetRequest).where(ResetRequest.id == request_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def add(session: Session, request: ResetRequest) -> ResetRequest:
    session.add(request)
    session.flush()
    return request


def count_pending(
    session: Session, *, now: datetime, requester_id: str, provider: str, target_id: str
) -> tuple[int, int]:
    """Pending requests by this requester, and for this account at this provider: one
    statement (two indexed counts), one round trip."""
    pending = (ResetRequest.state == RequestState.PENDING) & (ResetRequest.expires_at > now)

    def pending_where(*criteria: ColumnElement[bool]) -> ScalarSelect[int]:
        return select(func.count()).where(pending, *criteria).scalar_subquery()

    mine, same_target = session.execute(
        select(
            pending_where(ResetRequest.requester_id == requester_id),
            pending_where(ResetRequest.provider == provider, ResetRequest.target_id == target_id),
        )
    ).one()
    return int(mine or 0), int(same_target or 0)


def add_approval(
    session: Session, request: ResetRequest, approver_id: str, note: str | None, at: datetime
) -> int | None:
    """Record one person's approval; how many the request now has, or None if that person had
    already approved it (the unique (request, approver) row)."""
    try:
        with session.begin_nested():
            session.add(
                Approval(request_id=request.id, approver_id=approver_id, note=note, created_at=at)
            )
    except IntegrityError:
        return None
    return int(session.scalar(select(func.count()).where(Approval.request_id == request.id)) or 0)


def set_confirmation(
    session: Session, request_id: str, expected: str, new: str, **values: Any
) -> bool:
    """Move a pending request's confirmation from ``expected`` to ``new``; True if this call
    won (compare-and-set, like ``transition``)."""
    result = session.execute(
        update(ResetRequest)
        .where(
            ResetRequest.id == request_id,
            ResetRequest.state == RequestState.PENDING,
            ResetRequest.confirmation == expected,
        )
        .values(confirmation=new, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    won = result.rowcount == 1
    if won:
        session.expire_all()
    return won


def update_request(session: Session, request_id: str, **values: Any) -> None:
    session.execute(
        update(ResetRequest)
        .where(ResetRequest.id == request_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()


def add_copy(session: Session, request_id: str, purpose: str, channel: str, ts: str) -> None:
    session.add(MessageCopy(request_id=request_id, purpose=purpose, channel=channel, ts=ts))


def attach_message(session: Session, request_id: str, channel: str, ts: str) -> None:
    session.execute(
        update(ResetRequest)
        .where(ResetRequest.id == request_id)
        .values(approval_channel=channel, approval_ts=ts)
        .execution_options(synchronize_session=False)
    )


def set_message_stale(session: Session, request_id: str, stale: bool) -> None:
    session.execute(
        update(ResetRequest)
        .where(ResetRequest.id == request_id)
        .values(message_stale=stale)
        .execution_options(synchronize_session=False)
    )


def stale_messages(session: Session, limit: int) -> Sequence[ResetRequest]:
    return session.scalars(
        select(ResetRequest)
        .where(ResetRequest.message_stale.is_(True), ResetRequest.approval_ts.is_not(None))
        .limit(limit)
    ).all()


def overdue(session: Session, provider: str, since: datetime, column: str) -> Sequence[str]:
    """Pending requests at ``provider`` filed before ``since`` whose ``column`` (reminded_at,
    escalated_at) is still empty."""
    mark = getattr(ResetRequest, column)
    return session.scalars(
        select(ResetRequest.id).where(
            ResetRequest.state == RequestState.PENDING,
            ResetRequest.provider == provider,
            ResetRequest.created_at <= since,
            mark.is_(None),
        )
    ).all()


def claim(session: Session, request_id: str, column: str, now: datetime) -> bool:
    """Set ``column`` (reminded_at, escalated_at) if nobody has: True for exactly one caller,
    whatever the number of replicas."""
    mark = getattr(ResetRequest, column)
    result = session.execute(
        update(ResetRequest)
        .where(
            ResetRequest.id == request_id,
            ResetRequest.state == RequestState.PENDING,
            mark.is_(None),
        )
        .values({column: now})
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    won = result.rowcount == 1
    if won:
        session.expire_all()
    return won


def due_to_expire(session: Session, now: datetime) -> Sequence[str]:
    return session.scalars(
        select(ResetRequest.id).where(
            ResetRequest.state == RequestState.PENDING, ResetRequest.expires_at <= now
        )
    ).all()


def renew_leases(session: Session, owner: str, now: datetime) -> int:
    """Renew the heartbeat of every dispatch ``owner`` is running; how many there are."""
    result = session.execute(
        update(ResetRequest)
        .where(
            ResetRequest.dispatch_owner == owner,
            ResetRequest.state == RequestState.DISPATCHING,
        )
        .values(dispatch_heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return int(result.rowcount or 0)


def unfinished_dispatches(session: Session) -> Sequence[Any]:
    """Approved or dispatching requests, with what recovery needs to judge them."""
    return session.execute(
        select(
            ResetRequest.id,
            ResetRequest.provider,
            ResetRequest.dispatch_started_at,
            ResetRequest.dispatch_heartbeat_at,
            ResetRequest.state,
            ResetRequest.decided_at,
        ).where(ResetRequest.state.in_([RequestState.DISPATCHING, RequestState.APPROVED]))
    ).all()


# The lists people ask for with a command, built once (see Store.read): what a line shows.
RECENT_LIMIT = 10
PENDING_LIMIT = 20
_LINE = (
    ResetRequest.id,
    ResetRequest.provider,
    ResetRequest.action,
    ResetRequest.target_id,
    ResetRequest.target_email,
    ResetRequest.target_name,
    ResetRequest.state,
    ResetRequest.approval_channel,
)
_RECENT = (
    select(*_LINE)
    .where(ResetRequest.requester_id == bindparam("requester_id"))
    .order_by(ResetRequest.created_at.desc())
    .limit(RECENT_LIMIT)
)
_PENDING = (
    select(*_LINE)
    .where(
        ResetRequest.state == RequestState.PENDING,
        ResetRequest.expires_at > bindparam("now"),
        ResetRequest.provider.in_(bindparam("providers", expanding=True)),
        # Nobody is offered their own request, but where the provider allows self-approval.
        or_(
            ResetRequest.requester_id != bindparam("actor"),
            ResetRequest.provider.in_(bindparam("self_approving", expanding=True)),
        ),
    )
    .order_by(ResetRequest.created_at)
    .limit(PENDING_LIMIT)
)


def recent_lines(store: Store, requester_id: str) -> Sequence[Row[Any]]:
    """``requester_id``'s latest requests, newest first: one indexed read, no ORM objects."""
    return store.read(_RECENT, {"requester_id": requester_id})


def pending_lines(
    store: Store,
    providers: Sequence[str],
    now: datetime,
    *,
    actor: str,
    self_approving: Sequence[str],
) -> Sequence[Row[Any]]:
    """Pending requests at ``providers``, oldest first, none of ``actor``'s own but at the
    ``self_approving`` providers."""
    return store.read(
        _PENDING,
        {
            "now": now,
            "providers": list(providers),
            "actor": actor,
            "self_approving": list(self_approving),
        },
    )
