"""The audit outbox: events waiting to be POSTed to the audit webhook.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)  # bot.store.models.UTCDateTime stores through this


def upgrade() -> None:
    op.create_table(
        "audit_outbox",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "event_id",
            _ID,
            sa.ForeignKey(
                "audit_events.id",
                ondelete="CASCADE",
                name="fk_audit_outbox_event_id_audit_events",
            ),
            nullable=False,
        ),
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("next_attempt_at", _AT, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", _AT, nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_outbox"),
        sa.UniqueConstraint("event_id", name="uq_audit_outbox_event_id"),
    )
    op.create_index("ix_audit_outbox_stream_id", "audit_outbox", ["stream", "id"])
    op.create_index("ix_audit_outbox_next_attempt_at", "audit_outbox", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_table("audit_outbox")
