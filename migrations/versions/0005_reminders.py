"""Reminders and escalation: when each went out, and where the escalated copy lives.

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
    op.add_column(
        "reset_requests", sa.Column("escalation_channel", sa.String(length=32), nullable=True)
    )
    op.add_column("reset_requests", sa.Column("escalation_ts", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reset_requests") as batch:
        for column in ("escalation_ts", "escalation_channel", "escalated_at", "reminded_at"):
            batch.drop_column(column)
