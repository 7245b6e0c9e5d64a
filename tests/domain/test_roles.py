"""Role grants: granting, revoking and listing, provider scopes, the audit trail of each, and
the roles a person acts with."""

from __future__ import annotations

from sqlalchemy import select

from bot.domain import policy, roles
from bot.store import roles as role_store
from bot.store.db import Store, Tx
from bot.store.models import ALL_PROVIDERS, AuditEvent, Role
from bot.store.roles import list_grants

ADMIN = "U0ADMIN"
ALICE = "U0ALICE"


def grant(
    tx: Tx, user_id: str, role: Role, *, provider: str | None = None, granted_by: str
) -> bool:
    return roles.grant(tx, granted_by, user_id, role, provider)


def revoke(
    tx: Tx, user_id: str, role: Role, *, provider: str | None = None, revoked_by: str
) -> bool:
    return roles.revoke(tx, revoked_by, user_id, role, provider)


def roles_for(
    tx: Tx, user_id: str, provider: str | None, *, config_admins: list[str] | None = None
) -> set[Role]:
    """The roles a person acts with, as every check in the domain computes them."""
    return policy.effective(role_store.held(tx, user_id, provider), user_id, config_admins or [])


def events(store: Store) -> list[tuple[str, str, str | None, str | None, dict[str, object]]]:
    with store.session() as s:
        return [
            (e.actor, e.action, e.provider, e.target, e.details)
            for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]


class TestGrantAndRevoke:
    def test_grant_once(self, store: Store) -> None:
        """A grant is stored once; granting it again changes nothing and says so."""
        with store.session() as s:
            assert grant(s, ALICE, Role.APPROVER, provider="flags", granted_by=ADMIN)
        with store.session() as s:
            assert not grant(s, ALICE, Role.APPROVER, provider="flags", granted_by=ADMIN)
            [g] = list_grants(s)
            assert (g.slack_user_id, g.role, g.provider_scope, g.granted_by) == (
                ALICE,
                Role.APPROVER,
                "flags",
                ADMIN,
            )
            assert g.granted_at.tzinfo is not None
        assert events(store) == [
            (ADMIN, "role.granted", "flags", ALICE, {"role": "approver"}),
        ]

    def test_scopes_are_separate_grants(self, store: Store) -> None:
        """The same role for all providers and for one provider are two grants."""
        with store.session() as s:
            assert grant(s, ALICE, Role.REQUESTER, granted_by=ADMIN)
            assert grant(s, ALICE, Role.REQUESTER, provider="flags", granted_by=ADMIN)
            scopes = [g.provider_scope for g in list_grants(s, ALICE)]
        assert scopes == [ALL_PROVIDERS, "flags"]

    def test_revoke(self, store: Store) -> None:
        """Revoking removes exactly that grant and is recorded; a missing grant returns False."""
        with store.session() as s:
            grant(s, ALICE, Role.APPROVER, granted_by=ADMIN)
            grant(s, ALICE, Role.APPROVER, provider="flags", granted_by=ADMIN)
        with store.session() as s:
            assert revoke(s, ALICE, Role.APPROVER, provider="flags", revoked_by=ADMIN)
        with store.session() as s:
            assert not revoke(s, ALICE, Role.APPROVER, provider="flags", revoked_by=ADMIN)
            assert not revoke(s, ALICE, Role.ADMIN, revoked_by=ADMIN)
            assert [g.provider_scope for g in list_grants(s)] == [ALL_PROVIDERS]
        assert [e[1:4] for e in events(store)] == [
            ("role.granted", ALL_PROVIDERS, ALICE),
            ("role.granted", "flags", ALICE),
            ("role.revoked", "flags", ALICE),
        ]

    def test_list_grants_of_one_person(self, store: Store) -> None:
        with store.session() as s:
            grant(s, ALICE, Role.REQUESTER, granted_by=ADMIN)
            grant(s, "U0BOB", Role.APPROVER, granted_by=ADMIN)
            assert [g.slack_user_id for g in list_grants(s)] == [ALICE, "U0BOB"]
            assert [g.role for g in list_grants(s, "U0BOB")] == [Role.APPROVER]
            assert list_grants(s, "U0NOBODY") == []


class TestRolesFor:
    def test_nobody_has_no_roles(self, store: Store) -> None:
        with store.session() as s:
            assert roles_for(s, ALICE, "flags", config_admins=[ADMIN]) == set()

    def test_config_admins_are_admins_everywhere(self, store: Store) -> None:
        """Admins from the config hold every role, for every provider and for the bot."""
        with store.session() as s:
            everything = {Role.ADMIN, Role.APPROVER, Role.REQUESTER}
            assert roles_for(s, ADMIN, "flags", config_admins=[ADMIN]) == everything
            assert roles_for(s, ADMIN, None, config_admins=[ADMIN]) == everything

    def test_scoped_grant_covers_only_its_provider(self, store: Store) -> None:
        """An approver for 'flags' approves for 'flags' only, and is no approver of the bot."""
        with store.session() as s:
            grant(s, ALICE, Role.APPROVER, provider="flags", granted_by=ADMIN)
            assert roles_for(s, ALICE, "flags") == {Role.APPROVER, Role.REQUESTER}
            assert roles_for(s, ALICE, "edge") == set()
            assert roles_for(s, ALICE, None) == set()

    def test_all_providers_grant_covers_every_provider(self, store: Store) -> None:
        with store.session() as s:
            grant(s, ALICE, Role.REQUESTER, granted_by=ADMIN)
            assert roles_for(s, ALICE, "flags") == {Role.REQUESTER}
            assert roles_for(s, ALICE, "edge") == {Role.REQUESTER}
            assert roles_for(s, ALICE, None) == {Role.REQUESTER}

    def test_roles_imply_lesser_roles(self, store: Store) -> None:
        """Admins may do what approvers may; approvers and admins may also file."""
        with store.session() as s:
            grant(s, ALICE, Role.ADMIN, provider="edge", granted_by=ADMIN)
            grant(s, ALICE, Role.REQUESTER, granted_by=ADMIN)
            assert roles_for(s, ALICE, "edge") == {Role.ADMIN, Role.APPROVER, Role.REQUESTER}
            assert roles_for(s, ALICE, "flags") == {Role.REQUESTER}
