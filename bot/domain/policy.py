"""Who may do what: the role model, the config's admins, and each provider's approval policy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set

from bot.config import Settings
from bot.store.models import Confirmation, Role

# What each role held lets a person do, as a set of effective roles: an admin may do everything
# an approver may, and approvers and admins may file requests too (someone else still approves).
IMPLIED: dict[Role, frozenset[Role]] = {
    Role.REQUESTER: frozenset({Role.REQUESTER}),
    Role.APPROVER: frozenset({Role.APPROVER, Role.REQUESTER}),
    Role.ADMIN: frozenset({Role.ADMIN, Role.APPROVER, Role.REQUESTER}),
}
FILERS = frozenset({Role.REQUESTER, Role.APPROVER, Role.ADMIN})
DECIDERS = frozenset({Role.APPROVER, Role.ADMIN})


def effective(held: Iterable[Role], user_id: str, config_admins: Sequence[str]) -> set[Role]:
    """The roles ``user_id`` acts with: those granted, the config's admins as admins
    everywhere, and everything each implies."""
    roles = {*held, *([Role.ADMIN] if user_id in config_admins else [])}
    return {implied for role in roles for implied in IMPLIED[role]}


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


def self_approval_allowed(settings: Settings, provider: str) -> bool:
    instance = settings.providers.get(provider)
    return bool(instance and instance.allow_self_approval)


def approvals_channel(settings: Settings, provider: str, origin: str | None) -> str | None:
    """Where the approval message goes: the provider's channel, else where it was asked."""
    return settings.providers[provider].approvals_channel or origin


def quorum_met(approvals: int, required: int) -> bool:
    return approvals >= required


def owner_agrees(confirmation: str) -> bool:
    """Nothing is dispatched while the account's owner has been asked and not yet answered."""
    return confirmation != Confirmation.AWAITING


def approvals_for(settings: Settings, provider: str, *, privileged: bool) -> int:
    """Distinct approvals a request needs: more for an account the provider calls an admin."""
    instance = settings.providers[provider]
    if privileged:
        return max(instance.approvals_required, instance.approvals_required_privileged)
    return instance.approvals_required


def verify_target(settings: Settings, provider: str, *, privileged: bool) -> str:
    """Whether to check with the account's owner: "if_in_slack", "required" or "off";
    a privileged account is always "required"."""
    return "required" if privileged else settings.providers[provider].verify_target


def secret_goes_to_target(settings: Settings, provider: str) -> bool:
    return settings.providers[provider].deliver_secret_to == "target"  # noqa: S105


def security_channel(settings: Settings, approval_channel: str | None) -> str | None:
    return settings.security_channel or approval_channel
