"""The store's tables: role grants, reset requests, approvals and the append-only audit log."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Deterministic constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ALL_PROVIDERS = "*"  # RoleGrant.provider_scope for a grant that covers every provider instance


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Role(enum.StrEnum):
    REQUESTER = "requester"
    APPROVER = "approver"
    ADMIN = "admin"


class RequestState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DISPATCHING = "dispatching"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REJECTED_BY_TARGET = "rejected_by_target"  # the account's owner said they did not ask

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {
        RequestState.SUCCEEDED,
        RequestState.FAILED,
        RequestState.UNKNOWN,
        RequestState.DENIED,
        RequestState.EXPIRED,
        RequestState.CANCELLED,
        RequestState.REJECTED_BY_TARGET,
    }
)


class Confirmation(enum.StrEnum):
    """Where the account owner's confirmation of a request stands."""

    NOT_NEEDED = "not_needed"  # not in Slack, or not asked (verify_target = "off")
    AWAITING = "awaiting"  # asked by DM; no dispatch until they confirm
    CONFIRMED = "confirmed"
    UNREACHABLE = "unreachable"  # found in Slack, but the DM could not be delivered


class TargetLookup(enum.StrEnum):
    """What looking the account's e-mail up in the Slack workspace found."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    FAILED = "failed"  # Slack could not be asked (missing scope, rate-limited, down)
    SKIPPED = "skipped"  # no e-mail to look up


def _enum(cls: type[enum.Enum], length: int = 16) -> Enum:
    # VARCHAR + CHECK rather than a native PG enum: adding a state is a plain migration.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=length,
        name=cls.__name__.lower(),
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class RoleGrant(Base):
    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("slack_user_id", "role", "provider_scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slack_user_id: Mapped[str] = mapped_column(String(32), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role))
    provider_scope: Mapped[str] = mapped_column(String(64), default=ALL_PROVIDERS)
    granted_by: Mapped[str] = mapped_column(String(32))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class ResetRequest(Base):
    __tablename__ = "reset_requests"
    __table_args__ = (
        Index("ix_reset_requests_state_expires_at", "state", "expires_at"),
        Index("ix_reset_requests_requester_state", "requester_id", "state"),
        Index("ix_reset_requests_requester_created_at", "requester_id", "created_at"),
        Index("ix_reset_requests_target_state", "provider", "target_id", "state"),
    )

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    requester_id: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target_input: Mapped[str] = mapped_column(String(320))  # as typed
    target_id: Mapped[str] = mapped_column(String(128))  # as resolved at the provider
    target_email: Mapped[str | None] = mapped_column(String(320))
    target_name: Mapped[str | None] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[RequestState] = mapped_column(
        _enum(RequestState, length=32), default=RequestState.PENDING
    )
    approvals_required: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(32))  # last approver, or the denier
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)  # deny reason / approval note
    dispatch_started_at: Mapped[datetime | None]
    # Which running bot is calling the provider, and when it last said it still is: a dispatch
    # whose heartbeat stops (the process died) is recovered as unknown, never called again.
    dispatch_owner: Mapped[str | None] = mapped_column(String(64))
    dispatch_heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    outcome_kind: Mapped[str | None] = mapped_column(String(64))  # "ok" or a ProviderError.kind
    outcome_message: Mapped[str | None] = mapped_column(Text)  # secret-free, for people
    # Where the request came from and where its approval message lives.
    origin_channel: Mapped[str | None] = mapped_column(String(32))
    approval_channel: Mapped[str | None] = mapped_column(String(32))
    approval_ts: Mapped[str | None] = mapped_column(String(32))
    # The approval message lags the state (Slack was down): the sweeper re-renders it.
    message_stale: Mapped[bool] = mapped_column(default=False)
    # The account's owner in Slack, found by the account's e-mail, and their answer.
    target_lookup: Mapped[str | None] = mapped_column(String(16))  # a TargetLookup
    target_lookup_error: Mapped[str | None] = mapped_column(String(64))
    target_slack_id: Mapped[str | None] = mapped_column(String(32))
    confirmation: Mapped[str] = mapped_column(
        String(16), default=Confirmation.NOT_NEEDED.value, server_default="not_needed"
    )
    confirmed_at: Mapped[datetime | None]
    # The provider reported the account as an administrator.
    privileged: Mapped[bool] = mapped_column(default=False, server_default=false())
    privileged_why: Mapped[str | None] = mapped_column(String(256))
    # Who the secret (reset link, temporary password) was sent to, by DM.
    secret_recipient: Mapped[str | None] = mapped_column(String(32))
    # The owner said "This wasn't me" after the reset.
    disputed_at: Mapped[datetime | None]
    # Nobody decided in time: when the reminder went out, and the escalated copy of the
    # approval message (updated in place like the original).
    reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]

    approvals: Mapped[list[Approval]] = relationship(
        back_populates="request", order_by="Approval.id", lazy="selectin"
    )
    copies: Mapped[list[MessageCopy]] = relationship(order_by="MessageCopy.id", lazy="selectin")


class Approval(Base):
    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("request_id", "approver_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(
        ForeignKey("reset_requests.id", ondelete="CASCADE"), index=True
    )
    approver_id: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    request: Mapped[ResetRequest] = relationship(back_populates="approvals")


class MessageCopy(Base):
    """Another copy of a request's approval message, with working buttons: the escalated one
    (purpose "escalation") or one in an approver's DM ("dm"). Each is updated like the original."""

    __tablename__ = "message_copies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(
        ForeignKey("reset_requests.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str] = mapped_column(String(32))


class AuditEvent(Base):
    """Append-only. Never holds a secret: reset links and passwords never reach the store."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(32))  # Slack user id, or "system"
    action: Mapped[str] = mapped_column(String(64))  # "request.filed", "request.approved", ...
    request_id: Mapped[str | None] = mapped_column(String(16), index=True)
    provider: Mapped[str | None] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(320))
    outcome: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OutboxEntry(Base):
    """An audit event still to be POSTed to the webhook; deleted once delivered.

    Written in the same transaction as its audit event. ``stream`` (the request id, or "" for
    events about no request) is what delivery keeps in order.
    """

    __tablename__ = "audit_outbox"
    __table_args__ = (Index("ix_audit_outbox_stream_id", "stream", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("audit_events.id", ondelete="CASCADE"),
        unique=True,
    )
    stream: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Which sender holds it, until when: a sender that dies mid-POST frees it by time alone.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))

    event: Mapped[AuditEvent] = relationship()


class DeliverySeen(Base):
    """A signed Slack delivery already acted on (a hash of its ``trigger_id`` or of its signed
    bytes): a replay within Slack's five minutes finds it here, whichever replica it reaches."""

    __tablename__ = "deliveries_seen"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
