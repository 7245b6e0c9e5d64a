"""Approvers as a team: when the reminder and the escalation went out, and every copy of an
approval message (the escalated one, approvers' DMs), each updated in place like the original.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain nullable columns: ADD COLUMN on both backends, no table rebuild on SQLite.
    op.add_column("reset_requests", sa.Column("reminded_at", UTC_DATETIME, nullable=True))
    op.add_column("reset_requests", sa.Column("escalated_at", UTC_DATETIME, nullable=True))
    op.create_table(
        "message_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["reset_requests.id"],
            name=op.f("fk_message_copies_request_id_reset_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_copies")),
    )
    op.create_index(
        op.f("ix_message_copies_request_id"), "message_copies", ["request_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_message_copies_request_id"), table_name="message_copies")
    op.drop_table("message_copies")
    with op.batch_alter_table("reset_requests") as batch:
        for column in ("escalated_at", "reminded_at"):
            batch.drop_column(column)
