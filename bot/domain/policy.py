"""Who may do what: pure functions over the roles a person holds for one provider instance."""

from __future__ import annotations

from collections.abc import Set

from bot.store.models import Role

FILERS = frozenset({Role.REQUESTER, Role.APPROVER, Role.ADMIN})
DECIDERS = frozenset({Role.APPROVER, Role.ADMIN})


def may_file(roles: Set[Role]) -> bool:
    """Support staff file; approvers and admins may too (their request still needs another)."""
    return bool(roles & FILERS)


def may_decide(roles: Set[Role]) -> bool:
    return bool(roles & DECIDERS)


def may_administer(roles: Set[Role]) -> bool:
    return Role.ADMIN in roles


def may_see(roles: Set[Role], *, is_requester: bool) -> bool:
    return is_requester or may_decide(roles)


def may_cancel(roles: Set[Role], *, is_requester: bool) -> bool:
    return is_requester or may_administer(roles)
