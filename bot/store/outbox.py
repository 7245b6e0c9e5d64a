"""The audit outbox: claiming events to POST, in order per request, safely across replicas."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import aliased

from bot.store.db import Store
from bot.store.models import AuditEvent, OutboxEntry, RequestState, ResetRequest

_earlier = aliased(OutboxEntry)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One claimed outbox entry and the event it carries, as the webhook receives it."""

    outbox_id: int
    attempts: int
    event: dict[str, Any]


def claim(
    store: Store, owner: str, now: datetime, *, limit: int, lease: timedelta
) -> list[Delivery]:
    """Claim up to ``limit`` due entries that are each the oldest left of their request.

    Only the head of each request's queue is ever claimed, so a request's events go out one
    after another, in order, whichever replica sends them. A claim lasts ``lease``: a sender that
    dies holding it frees it by time alone. On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets
    replicas claim side by side without waiting on each other; SQLite has one writer anyway.
    """
    heads = (
        select(OutboxEntry.id)
        .where(
            OutboxEntry.next_attempt_at <= now,
            (OutboxEntry.claimed_until.is_(None)) | (OutboxEntry.claimed_until < now),
            ~exists().where(_earlier.stream == OutboxEntry.stream, _earlier.id < OutboxEntry.id),
        )
        .order_by(OutboxEntry.id)
        .limit(limit)
    )
    with store.session() as tx:
        if tx.get_bind().dialect.name == "postgresql":
            heads = heads.with_for_update(skip_locked=True, of=OutboxEntry)
        ids = list(tx.scalars(heads))
        if not ids:
            return []
        tx.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_(ids))
            .values(claimed_by=owner, claimed_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        rows = tx.execute(
            select(OutboxEntry.id, OutboxEntry.attempts, AuditEvent)
            .join(AuditEvent, AuditEvent.id == OutboxEntry.event_id)
            .where(OutboxEntry.id.in_(ids))
            .order_by(OutboxEntry.id)
        ).all()
        return [Delivery(row[0], row[1], event_payload(row[2])) for row in rows]


def event_payload(event: AuditEvent) -> dict[str, Any]:
    """An audit event as JSON data: the columns of ``audit export``; ``id`` never changes."""
    return {
        "id": str(event.id),
        "at": event.at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "request_id": event.request_id,
        "provider": event.provider,
        "target": event.target,
        "outcome": event.outcome,
        "details": event.details,
    }


def delivered(store: Store, outbox_id: int) -> None:
    with store.session() as tx:
        tx.execute(delete(OutboxEntry).where(OutboxEntry.id == outbox_id))


def retry_later(store: Store, outbox_id: int, owner: str, at: datetime, error: str) -> None:
    """Count a failed attempt and free the entry until ``at`` (if ``owner`` still holds it)."""
    with store.session() as tx:
        tx.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id == outbox_id, OutboxEntry.claimed_by == owner)
            .values(
                attempts=OutboxEntry.attempts + 1,
                next_attempt_at=at,
                claimed_by=None,
                claimed_until=None,
                last_error=error[:200],
            )
            .execution_options(synchronize_session=False)
        )


def release(store: Store, outbox_ids: Sequence[int], owner: str) -> None:
    """Give back claimed entries that were not tried."""
    if not outbox_ids:
        return
    with store.session() as tx:
        tx.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_(outbox_ids), OutboxEntry.claimed_by == owner)
            .values(claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )


_BACKLOG = select(func.count(OutboxEntry.id), func.min(OutboxEntry.created_at))
_PENDING = select(func.count(ResetRequest.id), func.min(ResetRequest.created_at)).where(
    ResetRequest.state == RequestState.PENDING
)


def backlog(store: Store) -> tuple[int, datetime | None]:
    """How many events wait for the webhook, and when the oldest was recorded."""
    count, oldest = list(store.read(_BACKLOG)[0])
    return int(count or 0), oldest


def pending(store: Store) -> tuple[int, datetime | None]:
    """How many requests wait for a decision, and when the oldest was filed."""
    count, oldest = list(store.read(_PENDING)[0])
    return int(count or 0), oldest
