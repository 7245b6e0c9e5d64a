"""Granting and revoking roles: admins from Slack, operators from the command line."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain import policy
from bot.domain.context import Context
from bot.domain.errors import NotAllowed
from bot.domain.lifecycle import AuditAction
from bot.domain.ports import GroupCheckFailed
from bot.domain.views import FROM_CONFIG, GrantView, grant_view
from bot.store import requests as request_store
from bot.store import roles as role_store
from bot.store.db import Tx
from bot.store.models import ALL_PROVIDERS, Role


def grant(tx: Tx, actor: str, user_id: str, role: Role, provider: str | None) -> bool:
    """Grant ``role`` for ``provider`` (None = every provider); False if it was already held.
    No permission check: the caller has made it (an admin in Slack, an operator's shell)."""
    scope = role_store.scope_of(provider)
    if not role_store.insert(tx, user_id, role, scope, actor):
        return False
    request_store.record(
        tx,
        actor=actor,
        action=AuditAction.ROLE_GRANTED,
        provider=scope,
        target=user_id,
        role=role.value,
    )
    return True


def revoke(tx: Tx, actor: str, user_id: str, role: Role, provider: str | None) -> bool:
    """Remove exactly the grant for ``provider`` (None = the all-providers one); False if absent.

    Revoking a provider-scoped grant leaves an all-providers grant of the same role in place,
    and the other way round: each grant is its own row.
    """
    scope = role_store.scope_of(provider)
    if not role_store.delete_grant(tx, user_id, role, scope):
        return False
    request_store.record(
        tx,
        actor=actor,
        action=AuditAction.ROLE_REVOKED,
        provider=scope,
        target=user_id,
        role=role.value,
    )
    return True


def list_grants(
    tx: Tx, config_admins: Sequence[str], user_id: str | None = None
) -> list[GrantView]:
    """Every grant (or one person's): the config's admins first, then the stored grants
    ordered by person, role and scope."""
    admins = [
        GrantView(a, Role.ADMIN, ALL_PROVIDERS, FROM_CONFIG, None)
        for a in config_admins
        if user_id in (None, a)
    ]
    return admins + [grant_view(g) for g in role_store.list_grants(tx, user_id)]


class RoleAdmin:
    """Role changes asked for in Slack: only admins may make them, checked as they are made."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def is_admin(self, user_id: str) -> bool:
        return policy.may_administer(self.ctx.read_roles(user_id, None))

    def _require_admin(self, tx: Tx, actor: str, what: str) -> None:
        if not policy.may_administer(self.ctx.roles(tx, actor, None)):
            raise NotAllowed(f"Only admins can {what} roles.")

    def subject(self, who: str, role: Role | None = None) -> str:
        """A person's id as given, or a user group's id (``S…``, or ``@handle`` looked up in
        Slack) once Slack confirms the group exists; only the approver role goes to a group."""
        if not who.startswith(("S", "@")):
            return who
        if role is not None and role is not Role.APPROVER:
            raise NotAllowed("A user group can only be granted the approver role.")
        teams = self.ctx.teams
        try:
            if teams is None:
                raise GroupCheckFailed("no Slack workspace to ask")
            group = teams.find(who[1:]) if who.startswith("@") else who
            if group is None or teams.handle(group) is None:
                raise NotAllowed(f"Slack says there is no user group {who[:40]}.")
        except GroupCheckFailed:
            raise NotAllowed(
                "I could not look the user group up in Slack; please try again."
            ) from None
        return group

    def grant(self, actor: str, user_id: str, role: Role, provider: str | None) -> bool:
        self.ctx.catalog.require(provider, field=None)
        user_id = self.subject(user_id, role)
        with self.ctx.store.session() as tx:
            self._require_admin(tx, actor, "grant")
            return grant(tx, actor, user_id, role, provider)

    def revoke(self, actor: str, user_id: str, role: Role, provider: str | None) -> bool:
        if user_id.startswith("@"):
            user_id = self.subject(user_id)
        with self.ctx.store.session() as tx:
            self._require_admin(tx, actor, "revoke")
            return revoke(tx, actor, user_id, role, provider)

    def list_grants(self, actor: str, user_id: str | None = None) -> list[GrantView]:
        with self.ctx.store.reading() as tx:
            self._require_admin(tx, actor, "list")
            return list_grants(tx, self.ctx.settings.admins, user_id)
