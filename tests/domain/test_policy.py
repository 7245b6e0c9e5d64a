"""The rules every decision is checked against, without servers: who may file and decide,
quorum, self-approval, scoped approvers, expiry, cancel and the flood limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.domain.errors import InvalidInput, LimitReached, NotAllowed, UnknownProvider, WrongState
from bot.store.models import AuditEvent, RequestState
from tests.domain.domain_support import ADMIN, ALICE, BOB, CAROL, DAN, ERIN, Domain


class TestFiling:
    def test_a_requester_files_a_pending_request(self, domain: Domain) -> None:
        view = domain.file()
        assert view.state is RequestState.PENDING
        assert view.approval_channel == "C0APPROVE"  # the provider's channel, not the origin
        assert view.expires_at - view.created_at == timedelta(minutes=60)

    def test_without_a_role_nothing_is_filed(self, domain: Domain) -> None:
        with pytest.raises(NotAllowed, match="requester role"):
            domain.core.filing.require_may_file(domain.draft(requester=DAN))

    def test_an_unknown_provider_is_named_with_the_configured_ones(self, domain: Domain) -> None:
        with pytest.raises(UnknownProvider, match="Configured: edge, escalating, flags, guarded"):
            domain.core.filing.validate(ALICE, "nope", None, "tom@x.com", "locked out")

    @pytest.mark.parametrize(
        ("user", "reason", "field"),
        [
            ("", "locked out", "user"),
            ("two words", "locked out", "user"),
            ("tom@", "locked out", "user"),
            ("tom@x.com", "no", "reason"),
            ("tom@x.com", "x" * 501, "reason"),
        ],
    )
    def test_bad_input_is_refused_before_anything_is_asked(
        self, domain: Domain, user: str, reason: str, field: str
    ) -> None:
        with pytest.raises(InvalidInput) as refused:
            domain.core.filing.validate(ALICE, "flags", None, user, reason)
        assert refused.value.field == field


class TestFloodLimits:
    def test_one_pending_request_per_account(self, domain: Domain) -> None:
        domain.file()
        with pytest.raises(LimitReached, match="already a pending request for Tom"):
            domain.file(requester=BOB)

    def test_pending_requests_per_requester(self, domain: Domain) -> None:
        for user in ("a@x.com", "b@x.com", "c@x.com"):
            domain.file(user=user)
        with pytest.raises(LimitReached, match="You already have 3 pending requests"):
            domain.file(user="d@x.com")

    def test_a_decided_request_no_longer_counts(self, domain: Domain) -> None:
        view = domain.file()
        domain.core.decisions.deny(view.id, BOB, "not today")
        assert domain.file(requester=BOB).state is RequestState.PENDING


class TestDeciding:
    def test_one_approval_reaches_the_default_quorum(self, domain: Domain) -> None:
        decision = domain.core.decisions.approve(domain.file().id, BOB)
        assert decision.quorum_met
        assert decision.request.state is RequestState.APPROVED

    def test_a_quorum_of_two_needs_two_different_people(self, domain: Domain) -> None:
        view = domain.file(provider="pair")
        first = domain.core.decisions.approve(view.id, BOB, "ok")
        assert not first.quorum_met and first.request.state is RequestState.PENDING
        with pytest.raises(NotAllowed, match="already approved"):
            domain.core.decisions.approve(view.id, BOB)
        second = domain.core.decisions.approve(view.id, CAROL)
        assert second.quorum_met and second.request.state is RequestState.APPROVED
        assert [a.approver_id for a in second.request.approvals] == [BOB, CAROL]

    def test_nobody_approves_their_own_request(self, domain: Domain) -> None:
        view = domain.file(requester=BOB)
        with pytest.raises(NotAllowed, match="your own request"):
            domain.core.decisions.approve(view.id, BOB)
        with pytest.raises(NotAllowed, match="your own request"):
            domain.core.decisions.deny(view.id, BOB, "changed my mind")

    def test_self_approval_where_the_provider_allows_it(self, domain: Domain) -> None:
        view = domain.file(requester=BOB, provider="selfie")
        assert domain.core.decisions.approve(view.id, BOB).quorum_met

    def test_a_scoped_approver_decides_only_for_their_provider(self, domain: Domain) -> None:
        flags = domain.file(provider="flags")
        edge = domain.file(provider="edge")
        with pytest.raises(NotAllowed, match="approver role"):
            domain.core.decisions.approve(edge.id, ERIN)
        assert domain.core.decisions.approve(flags.id, ERIN).quorum_met

    def test_a_requester_cannot_decide(self, domain: Domain) -> None:
        view = domain.file(requester=BOB)
        with pytest.raises(NotAllowed, match="approver role"):
            domain.core.decisions.approve(view.id, ALICE)

    def test_a_config_admin_decides_everywhere(self, domain: Domain) -> None:
        assert domain.core.decisions.approve(domain.file(provider="edge").id, ADMIN).quorum_met

    def test_a_denial_needs_a_reason(self, domain: Domain) -> None:
        with pytest.raises(InvalidInput, match="Say why"):
            domain.core.decisions.deny(domain.file().id, BOB, " ")

    def test_a_decided_request_cannot_be_decided_again(self, domain: Domain) -> None:
        view = domain.file()
        domain.core.decisions.deny(view.id, BOB, "not today")
        with pytest.raises(WrongState, match="is denied"):
            domain.core.decisions.approve(view.id, CAROL)


class TestExpiry:
    def test_an_overdue_request_cannot_be_decided(self, domain: Domain) -> None:
        view = domain.file()
        domain.clock.advance(minutes=61)
        with pytest.raises(WrongState, match="expired"):
            domain.core.decisions.check_decider(view.id, BOB)
        assert domain.core.queries.current(view.id).state is RequestState.EXPIRED

    def test_the_sweeper_expires_what_is_due_and_only_that(self, domain: Domain) -> None:
        old = domain.file(user="a@x.com")
        domain.clock.advance(minutes=30)
        new = domain.file(user="b@x.com")
        domain.clock.advance(minutes=31)
        expired = domain.upkeep.expire_due()
        assert [v.id for v in expired] == [old.id]
        assert domain.core.queries.current(new.id).state is RequestState.PENDING


class TestCancel:
    def test_the_requester_cancels(self, domain: Domain) -> None:
        view = domain.core.decisions.cancel(domain.file().id, ALICE)
        assert view.state is RequestState.CANCELLED and view.decided_by == ALICE

    def test_an_approver_who_is_no_admin_cannot(self, domain: Domain) -> None:
        with pytest.raises(NotAllowed, match="requester or an admin"):
            domain.core.decisions.cancel(domain.file().id, BOB)

    def test_an_admin_can(self, domain: Domain) -> None:
        assert domain.core.decisions.cancel(domain.file().id, ADMIN).state is (
            RequestState.CANCELLED
        )

    def test_only_pending_requests(self, domain: Domain) -> None:
        view = domain.file()
        domain.core.decisions.approve(view.id, BOB)
        with pytest.raises(WrongState, match="only pending requests"):
            domain.core.decisions.cancel(view.id, ALICE)


class TestRefusalsAreAudited:
    def test_a_refused_self_approval_leaves_an_audit_row(self, domain: Domain) -> None:
        view = domain.file(requester=BOB)
        with pytest.raises(NotAllowed):
            domain.core.decisions.check_decider(view.id, BOB)
        with pytest.raises(NotAllowed):
            domain.core.decisions.approve(view.id, BOB)
        with pytest.raises(NotAllowed):
            domain.core.decisions.cancel(view.id, CAROL)
        with domain.core.store.reading() as tx:
            rows = tx.execute(
                select(AuditEvent.actor, AuditEvent.action, AuditEvent.details).where(
                    AuditEvent.request_id == view.id, AuditEvent.action == "request.refused"
                )
            ).all()
        assert [(r.actor, r.details["attempted"]) for r in rows] == [
            (BOB, "decide"),
            (BOB, "approve"),
            (CAROL, "cancel"),
        ]


class TestPending:
    def test_nobody_is_offered_their_own_request(self, domain: Domain) -> None:
        own = domain.file(requester=BOB)
        other = domain.file(requester=ALICE, user="uma@x.com")
        assert [line.id for line in domain.core.queries.pending_for(BOB)] == [other.id]
        assert [line.id for line in domain.core.queries.pending_for(CAROL)] == [own.id, other.id]

    def test_unless_the_provider_allows_self_approval(self, domain: Domain) -> None:
        own = domain.file(requester=BOB, provider="selfie")
        assert [line.id for line in domain.core.queries.pending_for(BOB)] == [own.id]
