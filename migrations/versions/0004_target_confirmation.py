"""The person whose password is reset: their Slack account, their answer, privileged accounts,
where a secret went, and the state rejected_by_target.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)
STATES = (
    "pending",
    "approved",
    "dispatching",
    "succeeded",
    "failed",
    "unknown",
    "denied",
    "expired",
    "cancelled",
)
NEW_STATES = (*STATES, "rejected_by_target")
CHECK = "requeststate"  # ck_reset_requests_requeststate, by the naming convention


def _states_check(states: tuple[str, ...]) -> sa.ColumnElement[bool]:
    return sa.column("state").in_(states)


def upgrade() -> None:
    # SQLite cannot alter a column or a CHECK constraint: batch mode rebuilds the table.
    with op.batch_alter_table("reset_requests") as batch:
        batch.drop_constraint(CHECK, type_="check")
        batch.alter_column(
            "state",
            existing_type=sa.String(length=16),
            type_=sa.String(length=32),
            existing_nullable=False,
        )
        batch.create_check_constraint("requeststate", _states_check(NEW_STATES))
        batch.add_column(sa.Column("target_lookup", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("target_lookup_error", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("target_slack_id", sa.String(length=32), nullable=True))
        batch.add_column(
            sa.Column(
                "confirmation",
                sa.String(length=16),
                nullable=False,
                server_default="not_needed",
            )
        )
        batch.add_column(sa.Column("confirmed_at", UTC_DATETIME, nullable=True))
        batch.add_column(
            sa.Column("privileged", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("privileged_why", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("secret_recipient", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("disputed_at", UTC_DATETIME, nullable=True))


def downgrade() -> None:
    op.execute("UPDATE reset_requests SET state = 'cancelled' WHERE state = 'rejected_by_target'")
    with op.batch_alter_table("reset_requests") as batch:
        for column in (
            "disputed_at",
            "secret_recipient",
            "privileged_why",
            "privileged",
            "confirmed_at",
            "confirmation",
            "target_slack_id",
            "target_lookup_error",
            "target_lookup",
        ):
            batch.drop_column(column)
        batch.drop_constraint(CHECK, type_="check")
        batch.alter_column(
            "state",
            existing_type=sa.String(length=32),
            type_=sa.String(length=16),
            existing_nullable=False,
        )
        batch.create_check_constraint("requeststate", _states_check(STATES))
