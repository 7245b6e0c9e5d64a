"""An index for ``/reset-password status``: a requester's requests, newest first.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Without it the status list sorted all of a requester's requests on every command.
    op.create_index(
        "ix_reset_requests_requester_created_at", "reset_requests", ["requester_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_reset_requests_requester_created_at", table_name="reset_requests")
