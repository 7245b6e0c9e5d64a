"""The request life-cycle: every legal transition in one table, and the audit row each leaves.

A state and an event give the next state. Every change of a request's state goes through
``move``, which writes it as one compare-and-set (``UPDATE … WHERE state IN (the states the
event leaves)``) and appends its audit event in the same transaction: two clicks, two replicas
or a Slack retry can never both win, and no transition happens without its audit row.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from bot.store import requests as request_store
from bot.store.db import Tx
from bot.store.models import FINAL_STATES, RequestState, ResetRequest

__all__ = [
    "FINAL_STATES",
    "TRANSITIONS",
    "AuditAction",
    "Event",
    "IllegalTransition",
    "RequestState",
    "move",
    "next_state",
    "sources",
]


class Event(enum.StrEnum):
    """What happens to a request."""

    APPROVE = "approve"  # the last approval the quorum needed
    DENY = "deny"
    CANCEL = "cancel"  # by the requester or an admin
    ABANDON = "abandon"  # its approval message could not be posted: nobody can decide it
    EXPIRE = "expire"
    START = "start"  # the provider call begins
    SUCCEED = "succeed"
    FAIL = "fail"  # the provider certainly did not act
    LOSE_TRACK = "lose_track"  # the call may or may not have happened
    TARGET_REJECTS = "target_rejects"  # the account's owner: "No, I did not ask"


class AuditAction(enum.StrEnum):
    """What an audit event records; the values are what ``audit export`` shows."""

    FILED = "request.filed"
    REJECTED = "request.rejected"  # a filing refused: nothing was filed
    REFUSED = "request.refused"  # a decision or cancel refused: nothing changed
    APPROVAL_ADDED = "request.approval_added"
    APPROVED = "request.approved"
    DENIED = "request.denied"
    CANCELLED = "request.cancelled"
    EXPIRED = "request.expired"
    DISPATCHING = "request.dispatching"
    SUCCEEDED = "request.succeeded"
    FAILED = "request.failed"
    UNKNOWN = "request.unknown"
    REJECTED_BY_TARGET = "request.rejected_by_target"
    TARGET_ASKED = "target.asked"  # the owner's confirmation DM went out
    TARGET_UNREACHABLE = "target.unreachable"  # ... or could not be delivered
    TARGET_CONFIRMED = "target.confirmed"
    TARGET_NOTIFIED = "target.notified"  # told after the reset what was done
    TARGET_DISPUTED = "target.disputed"  # "This wasn't me", after the reset
    SECRET_DELIVERED = "secret.delivered"  # noqa: S105 - an action name, not a secret
    SECRET_DELIVERY_FAILED = "secret.delivery_failed"  # noqa: S105
    ROLE_GRANTED = "role.granted"
    ROLE_REVOKED = "role.revoked"


S = RequestState

TRANSITIONS: Mapping[tuple[RequestState, Event], RequestState] = {
    (S.PENDING, Event.APPROVE): S.APPROVED,
    (S.PENDING, Event.DENY): S.DENIED,
    (S.PENDING, Event.CANCEL): S.CANCELLED,
    (S.PENDING, Event.ABANDON): S.CANCELLED,
    (S.PENDING, Event.EXPIRE): S.EXPIRED,
    (S.PENDING, Event.TARGET_REJECTS): S.REJECTED_BY_TARGET,
    (S.APPROVED, Event.START): S.DISPATCHING,
    (S.DISPATCHING, Event.SUCCEED): S.SUCCEEDED,
    (S.DISPATCHING, Event.FAIL): S.FAILED,
    (S.DISPATCHING, Event.LOSE_TRACK): S.UNKNOWN,
}

# The audit action each transition records, by the state it reaches.
_AUDIT: Mapping[RequestState, AuditAction] = {
    S.APPROVED: AuditAction.APPROVED,
    S.DENIED: AuditAction.DENIED,
    S.CANCELLED: AuditAction.CANCELLED,
    S.EXPIRED: AuditAction.EXPIRED,
    S.DISPATCHING: AuditAction.DISPATCHING,
    S.SUCCEEDED: AuditAction.SUCCEEDED,
    S.FAILED: AuditAction.FAILED,
    S.UNKNOWN: AuditAction.UNKNOWN,
    S.REJECTED_BY_TARGET: AuditAction.REJECTED_BY_TARGET,
}


class IllegalTransition(ValueError):
    """An event the table has no row for, from that state."""


def next_state(state: RequestState, event: Event) -> RequestState:
    """Where ``event`` takes a request in ``state``; IllegalTransition if nowhere."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(f"{event.value} is not possible from {state.value}") from None


def sources(event: Event) -> tuple[RequestState, ...]:
    """The states ``event`` can leave."""
    return tuple(state for state, e in TRANSITIONS if e is event)


def move(
    tx: Tx,
    request_id: str,
    event: Event,
    *,
    actor: str,
    outcome: str | None = None,
    audit: Mapping[str, Any] | None = None,
    guard: Any = None,
    **values: Any,
) -> ResetRequest | None:
    """Apply ``event`` to the request if it is still in a state the event leaves.

    Returns the request as moved (its audit event appended), or None if it had moved on
    (another click, replica or the sweeper won). ``values`` are the other columns to set;
    ``guard`` a further store condition checked in the same statement.
    """
    leaves = sources(event)
    (new,) = {TRANSITIONS[(state, event)] for state in leaves}
    if not request_store.transition(tx, request_id, leaves, new, guard=guard, **values):
        return None
    request = request_store.load(tx, request_id)
    assert request is not None
    request_store.record(
        tx,
        actor=actor,
        action=_AUDIT[new],
        request=request,
        outcome=outcome if outcome is not None else new.value,
        **dict(audit or {}),
    )
    return request
