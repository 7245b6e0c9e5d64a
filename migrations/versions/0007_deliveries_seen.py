"""Signed Slack deliveries already acted on, so a replayed one is dropped on every replica.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveries_seen",
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_deliveries_seen"),
    )
    op.create_index("ix_deliveries_seen_seen_at", "deliveries_seen", ["seen_at"])


def downgrade() -> None:
    op.drop_table("deliveries_seen")
