"""Role grants as stored: one row per person, role and provider scope."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import CursorResult, Row, bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.db import Store
from bot.store.models import ALL_PROVIDERS, Role, RoleGrant


def scope_of(provider: str | None) -> str:
    return ALL_PROVIDERS if provider is None else provider


def _find(session: Session, user_id: str, role: Role, scope: str) -> RoleGrant | None:
    return session.scalars(
        select(RoleGrant).where(
            RoleGrant.slack_user_id == user_id,
            RoleGrant.role == role,
            RoleGrant.provider_scope == scope,
        )
    ).one_or_none()


def insert(session: Session, user_id: str, role: Role, scope: str, granted_by: str) -> bool:
    """Add the grant; False if it was already there."""
    if _find(session, user_id, role, scope) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(
                RoleGrant(
                    slack_user_id=user_id, role=role, provider_scope=scope, granted_by=granted_by
                )
            )
    except IntegrityError:
        # Another replica granted the same role between our look-up and our insert.
        return False
    return True


def delete_grant(session: Session, user_id: str, role: Role, scope: str) -> bool:
    """Remove exactly the grant for ``scope``; False if there was none."""
    result = session.execute(
        delete(RoleGrant)
        .where(
            RoleGrant.slack_user_id == user_id,
            RoleGrant.role == role,
            RoleGrant.provider_scope == scope,
        )
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


def list_grants(session: Session, user_id: str | None = None) -> list[RoleGrant]:
    """Every grant (or one person's), ordered by person, role and scope."""
    stmt = select(RoleGrant).order_by(
        RoleGrant.slack_user_id, RoleGrant.role, RoleGrant.provider_scope
    )
    if user_id is not None:
        stmt = stmt.where(RoleGrant.slack_user_id == user_id)
    return list(session.scalars(stmt))


# Built once: building and compiling a statement per call cost more than running it.
_HELD = select(RoleGrant.role).where(
    RoleGrant.slack_user_id == bindparam("user_id"),
    RoleGrant.provider_scope.in_([ALL_PROVIDERS, bindparam("scope")]),
)
_HELD_ANYWHERE = select(RoleGrant.provider_scope, RoleGrant.role).where(
    RoleGrant.slack_user_id == bindparam("user_id")
)


def deciders(session: Session, provider: str) -> list[str]:
    """Who holds the approver or admin role for ``provider`` (grants covering it or all),
    people and user groups alike."""
    return sorted(
        set(
            session.scalars(
                select(RoleGrant.slack_user_id).where(
                    RoleGrant.role.in_([Role.APPROVER, Role.ADMIN]),
                    RoleGrant.provider_scope.in_([ALL_PROVIDERS, provider]),
                )
            )
        )
    )


GROUP_PREFIX = "S"  # a Slack user group's id: S0123ABCD


def group_deciders(session: Session, provider: str) -> list[str]:
    """The user groups granted the approver role for ``provider`` (or every provider)."""
    return sorted(
        set(
            session.scalars(
                select(RoleGrant.slack_user_id).where(
                    RoleGrant.role == Role.APPROVER,
                    RoleGrant.provider_scope.in_([ALL_PROVIDERS, provider]),
                    RoleGrant.slack_user_id.startswith(GROUP_PREFIX),
                )
            )
        )
    )


def held(session: Session, user_id: str, provider: str | None) -> list[Role]:
    """The roles granted to ``user_id`` for ``provider`` (None: grants covering every one)."""
    return list(session.scalars(_HELD, {"user_id": user_id, "scope": scope_of(provider)}))


def read_held(store: Store, user_id: str, provider: str | None) -> list[Role]:
    """``held`` as one statement outside any transaction (``Store.read``): for checks made
    before anything is written. Whatever then changes state checks again in its transaction."""
    rows = store.read(_HELD, {"user_id": user_id, "scope": scope_of(provider)})
    return [r.role for r in rows]


def read_held_by_scope(store: Store, user_id: str) -> Sequence[Row[Any]]:
    """Every grant of ``user_id`` as (provider_scope, role) rows, in one statement."""
    return store.read(_HELD_ANYWHERE, {"user_id": user_id})
