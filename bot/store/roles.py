"""Role grants: who may file, decide or administer, for which provider instances."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import CursorResult, bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.db import Store
from bot.store.models import ALL_PROVIDERS, Role, RoleGrant
from bot.store.requests import record

# What each role held lets a person do, as a set of effective roles: an admin may do everything
# an approver may, and approvers and admins may file requests too (someone else still approves).
IMPLIED: dict[Role, frozenset[Role]] = {
    Role.REQUESTER: frozenset({Role.REQUESTER}),
    Role.APPROVER: frozenset({Role.APPROVER, Role.REQUESTER}),
    Role.ADMIN: frozenset({Role.ADMIN, Role.APPROVER, Role.REQUESTER}),
}


def _scope(provider: str | None) -> str:
    return ALL_PROVIDERS if provider is None else provider


def _find(session: Session, user_id: str, role: Role, scope: str) -> RoleGrant | None:
    return session.scalars(
        select(RoleGrant).where(
            RoleGrant.slack_user_id == user_id,
            RoleGrant.role == role,
            RoleGrant.provider_scope == scope,
        )
    ).one_or_none()


def grant(
    session: Session,
    user_id: str,
    role: Role,
    *,
    provider: str | None = None,
    granted_by: str,
) -> bool:
    """Grant ``role`` for ``provider`` (None = every provider); False if it was already held."""
    scope = _scope(provider)
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
    record(
        session,
        actor=granted_by,
        action="role.granted",
        provider=scope,
        target=user_id,
        role=role.value,
    )
    return True


def revoke(
    session: Session,
    user_id: str,
    role: Role,
    *,
    provider: str | None = None,
    revoked_by: str,
) -> bool:
    """Remove exactly the grant for ``provider`` (None = the all-providers one); False if absent.

    Revoking a provider-scoped grant leaves an all-providers grant of the same role in place,
    and the other way round: each grant is its own row, listed by ``list_grants``.
    """
    scope = _scope(provider)
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
    if result.rowcount != 1:
        return False
    record(
        session,
        actor=revoked_by,
        action="role.revoked",
        provider=scope,
        target=user_id,
        role=role.value,
    )
    return True


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


def roles_for(
    session: Session,
    user_id: str,
    provider: str | None,
    *,
    config_admins: Iterable[str] = (),
) -> set[Role]:
    """The effective roles of ``user_id`` for one provider instance (implied roles included).

    ``provider=None`` asks about the bot as a whole (granting roles, say): then only grants that
    cover every provider count. Admins named in the config are admins everywhere.
    """
    held = session.scalars(_HELD, {"user_id": user_id, "scope": _scope(provider)})
    return _effective(held, user_id in set(config_admins))


def read_roles(
    store: Store, user_id: str, provider: str | None, *, config_admins: Iterable[str] = ()
) -> set[Role]:
    """``roles_for`` as one statement outside any transaction (``Store.read``): for checks
    made before anything is written. Whatever then changes state checks again in its transaction."""
    rows = store.read(_HELD, {"user_id": user_id, "scope": _scope(provider)})
    return _effective((r.role for r in rows), user_id in set(config_admins))


def read_roles_by_provider(
    store: Store, user_id: str, providers: Iterable[str], *, config_admins: Iterable[str] = ()
) -> dict[str, set[Role]]:
    """The effective roles of ``user_id`` for each of ``providers``, in one statement."""
    rows = store.read(_HELD_ANYWHERE, {"user_id": user_id})
    admin = user_id in set(config_admins)
    return {
        name: _effective((r.role for r in rows if r.provider_scope in (ALL_PROVIDERS, name)), admin)
        for name in providers
    }


def _effective(held: Iterable[Role], config_admin: bool) -> set[Role]:
    roles = {*held, *([Role.ADMIN] if config_admin else [])}
    return {implied for role in roles for implied in IMPLIED[role]}
