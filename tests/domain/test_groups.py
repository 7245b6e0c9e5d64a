"""A user group granted the approver role: its members decide, checked when they do; a check
that fails refuses, never allows; a group gets no other role."""

from __future__ import annotations

import pytest

from bot.domain.errors import NotAllowed
from bot.store.models import Role
from tests.domain.domain_support import ADMIN, ALICE, DAN, Domain


def grant(domain: Domain, subject: str = "S0MANAGERS") -> None:
    domain.core.role_admin.grant(ADMIN, subject, Role.APPROVER, None)


def test_a_member_decides(domain: Domain) -> None:
    grant(domain)
    assert domain.core.decisions.approve(domain.file().id, DAN).quorum_met


def test_without_the_grant_a_member_cannot(domain: Domain) -> None:
    with pytest.raises(NotAllowed, match="approver role"):
        domain.core.decisions.approve(domain.file().id, DAN)


def test_someone_removed_from_the_group_is_refused(domain: Domain) -> None:
    grant(domain)
    domain.teams.groups["S0MANAGERS"][1].discard(DAN)
    with pytest.raises(NotAllowed, match="approver role"):
        domain.core.decisions.approve(domain.file().id, DAN)


def test_a_failed_check_refuses(domain: Domain) -> None:
    grant(domain)
    view = domain.file()
    domain.teams.error = True
    with pytest.raises(NotAllowed, match="could not check your user group membership"):
        domain.core.decisions.approve(view.id, DAN)


def test_the_reminder_names_the_members(domain: Domain) -> None:
    grant(domain)
    view = domain.file(user="tom@x.com")
    assert DAN in domain.upkeep.deciders(view)
    assert ALICE not in domain.upkeep.deciders(view)


def test_a_member_sees_it_pending(domain: Domain) -> None:
    grant(domain)
    view = domain.file()
    assert [line.id for line in domain.core.queries.pending_for(DAN)] == [view.id]


def test_only_approver_and_only_known_groups(domain: Domain) -> None:
    with pytest.raises(NotAllowed, match="only be granted the approver role"):
        domain.core.role_admin.grant(ADMIN, "S0MANAGERS", Role.ADMIN, None)
    with pytest.raises(NotAllowed, match="no user group S0NOPE"):
        grant(domain, "S0NOPE")
    grant(domain, "@managers")  # the plain handle, looked up
    with pytest.raises(NotAllowed, match="no user group @nobody"):
        grant(domain, "@nobody")
