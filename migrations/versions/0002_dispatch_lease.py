"""Dispatch lease: which process is calling the provider, and its last heartbeat.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain nullable columns: ADD COLUMN on both backends, no table rebuild on SQLite.
    op.add_column(
        "reset_requests", sa.Column("dispatch_owner", sa.String(length=64), nullable=True)
    )
    op.add_column("reset_requests", sa.Column("dispatch_heartbeat_at", UTC_DATETIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reset_requests") as batch:
        batch.drop_column("dispatch_heartbeat_at")
        batch.drop_column("dispatch_owner")
