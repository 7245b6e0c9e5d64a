"""The person whose password is reset: asked before anything is done, the only one who can
answer, "No" ends it for good, secrets go to them, and they hear of every reset."""

from __future__ import annotations

import pytest

from bot.domain.errors import NotAllowed, WrongState
from bot.store.models import Confirmation, RequestState, TargetLookup
from tests.domain.domain_support import ALICE, BOB, CAROL, ROOT, VIC, Domain

OWNER = "vic@x.com"


def file(domain: Domain, provider: str = "flags", user: str = OWNER) -> str:
    return domain.workflow.file(domain.draft(provider=provider, user=user), "C0SUPPORT").id


class TestAsking:
    def test_an_owner_in_slack_is_asked_and_nothing_is_dispatched_before(
        self, domain: Domain
    ) -> None:
        rid = file(domain)
        view = domain.core.queries.current(rid)
        assert (view.target_lookup, view.target_slack_id) == (TargetLookup.FOUND, VIC)
        assert view.confirmation is Confirmation.AWAITING
        assert ("ask", VIC, rid) in domain.notifier.said
        decision = domain.core.decisions.approve(rid, BOB)
        assert not decision.quorum_met and decision.request.state is RequestState.PENDING
        domain.workflow.after_decision(rid, BOB, quorum_met=False)
        assert domain.providers["flags"].performed == []

    def test_confirming_after_the_approvals_dispatches_once(self, domain: Domain) -> None:
        rid = file(domain)
        domain.core.decisions.approve(rid, BOB)
        view, approved = domain.confirmations.confirm(rid, VIC)
        assert approved and view.state is RequestState.APPROVED
        domain.workflow.after_confirm(rid, approved=approved)
        domain.workflow.dispatch(rid)
        assert domain.providers["flags"].performed == [("reset", "vic")]
        assert ("owner told", VIC, "succeeded") in domain.notifier.said

    def test_confirming_before_the_approvals_lets_the_quorum_dispatch(self, domain: Domain) -> None:
        rid = file(domain, "pair")
        _, approved = domain.confirmations.confirm(rid, VIC)
        assert not approved
        assert not domain.core.decisions.approve(rid, BOB).quorum_met
        assert domain.core.decisions.approve(rid, CAROL).quorum_met

    def test_only_the_owner_can_answer(self, domain: Domain) -> None:
        rid = file(domain)
        for someone in (ALICE, BOB, "U0NOBODY"):
            with pytest.raises(NotAllowed, match="Only the person whose password it is"):
                domain.confirmations.confirm(rid, someone)
            with pytest.raises(NotAllowed):
                domain.confirmations.reject(rid, someone)
        assert domain.core.queries.current(rid).confirmation is Confirmation.AWAITING

    def test_a_second_answer_changes_nothing(self, domain: Domain) -> None:
        rid = file(domain)
        domain.confirmations.confirm(rid, VIC)
        with pytest.raises(WrongState, match="already confirmed"):
            domain.confirmations.confirm(rid, VIC)
        with pytest.raises(WrongState):
            domain.confirmations.reject(rid, VIC)

    def test_the_question_expires_with_the_request(self, domain: Domain) -> None:
        rid = file(domain)
        domain.clock.advance(minutes=61)
        with pytest.raises(WrongState, match="no longer open"):
            domain.confirmations.confirm(rid, VIC)
        assert domain.core.queries.current(rid).state is RequestState.EXPIRED

    def test_off_asks_nobody(self, domain: Domain) -> None:
        rid = file(domain, "quiet")
        assert domain.core.queries.current(rid).confirmation is Confirmation.NOT_NEEDED
        assert domain.core.decisions.approve(rid, BOB).quorum_met


class TestNo:
    def test_no_ends_the_request_and_alerts_security(self, domain: Domain) -> None:
        rid = file(domain, "pair")
        domain.core.decisions.approve(rid, BOB)
        view = domain.confirmations.reject(rid, VIC)
        assert view.state is RequestState.REJECTED_BY_TARGET
        domain.workflow.after_reject(view)
        said = domain.notifier.said
        assert ("alert", "C0APPROVE", "the account's owner said they did not ask") in said
        assert ("tell", ALICE, "rejected_by_target") in said  # the requester
        assert ("tell", BOB, "rejected_by_target") in said  # who approved
        with pytest.raises(WrongState):
            domain.core.decisions.approve(rid, CAROL)
        domain.workflow.dispatch(rid)
        assert domain.providers["pair"].performed == []


class TestNotInSlack:
    def test_if_in_slack_goes_on_without_asking(self, domain: Domain) -> None:
        rid = file(domain, user="tom@x.com")
        view = domain.core.queries.current(rid)
        assert (view.target_lookup, view.confirmation) == (
            TargetLookup.NOT_FOUND,
            Confirmation.NOT_NEEDED,
        )

    def test_required_refuses_at_filing(self, domain: Domain) -> None:
        with pytest.raises(NotAllowed, match="not in this Slack workspace"):
            file(domain, "strict", "tom@x.com")

    def test_a_failed_look_up_is_shown_and_required_refuses(self, domain: Domain) -> None:
        domain.directory.error = "ratelimited"
        rid = file(domain)
        view = domain.core.queries.current(rid)
        assert (view.target_lookup, view.target_lookup_error) == (
            TargetLookup.FAILED,
            "ratelimited",
        )
        assert view.confirmation is Confirmation.NOT_NEEDED
        with pytest.raises(NotAllowed, match=r"could not look them up in Slack \(ratelimited\)"):
            file(domain, "strict", "uma@x.com")

    def test_an_undeliverable_question(self, domain: Domain) -> None:
        """Said in the approval message; a provider that requires the owner cannot go on."""
        domain.notifier.fail_dm = True
        rid = file(domain)
        assert domain.core.queries.current(rid).confirmation is Confirmation.UNREACHABLE
        assert domain.core.decisions.approve(rid, BOB).quorum_met
        strict = file(domain, "strict")
        assert domain.core.queries.current(strict).state is RequestState.CANCELLED


class TestSecrets:
    def test_the_secret_goes_to_the_owner_never_the_requester(self, domain: Domain) -> None:
        rid = file(domain, "links")
        domain.confirmations.confirm(rid, VIC)
        domain.core.decisions.approve(rid, BOB)
        domain.workflow.after_decision(rid, BOB, quorum_met=True)
        assert domain.notifier.secrets == [(VIC, "https://u.test/reset/SECRET-TOKEN")]
        assert domain.core.queries.current(rid).secret_recipient == VIC

    def test_to_the_requester_when_the_owner_is_not_in_slack(self, domain: Domain) -> None:
        rid = file(domain, "links", "tom@x.com")
        domain.core.decisions.approve(rid, BOB)
        domain.workflow.after_decision(rid, BOB, quorum_met=True)
        assert domain.notifier.secrets == [(ALICE, "https://u.test/reset/SECRET-TOKEN")]

    def test_deliver_secret_to_requester(self, domain: Domain) -> None:
        rid = file(domain, "handover")
        domain.confirmations.confirm(rid, VIC)
        domain.core.decisions.approve(rid, BOB)
        domain.workflow.after_decision(rid, BOB, quorum_met=True)
        assert domain.notifier.secrets == [(ALICE, "https://u.test/reset/SECRET-TOKEN")]


class TestAfterTheReset:
    def test_this_wasnt_me_is_recorded_once_and_alerts(self, domain: Domain) -> None:
        rid = file(domain)
        domain.confirmations.confirm(rid, VIC)
        domain.core.decisions.approve(rid, BOB)
        domain.workflow.after_decision(rid, BOB, quorum_met=True)
        with pytest.raises(NotAllowed):
            domain.confirmations.dispute(rid, ALICE)
        view = domain.confirmations.dispute(rid, VIC)
        assert view.disputed_at is not None
        domain.workflow.after_dispute(view)
        assert (
            "alert",
            "C0APPROVE",
            "the account's owner says the reset was not their doing",
        ) in domain.notifier.said
        with pytest.raises(WrongState, match="already reported"):
            domain.confirmations.dispute(rid, VIC)


class TestPrivileged:
    def test_an_administrator_needs_two_approvers_and_their_own_word(self, domain: Domain) -> None:
        rid = file(domain, "quiet", ROOT)  # "off" does not hold for an administrator
        view = domain.core.queries.current(rid)
        assert view.privileged and view.privileged_why == "root role"
        assert view.approvals_required == 2
        assert view.confirmation is Confirmation.AWAITING
        domain.confirmations.confirm(rid, "U0ROOT")
        assert not domain.core.decisions.approve(rid, BOB).quorum_met
        assert domain.core.decisions.approve(rid, CAROL).quorum_met

    def test_refuse_privileged(self, domain: Domain) -> None:
        with pytest.raises(NotAllowed, match="is an administrator"):
            file(domain, "guarded", ROOT)

    def test_an_administrator_not_in_slack_is_refused(self, domain: Domain) -> None:
        domain.directory.people.pop(ROOT)
        with pytest.raises(NotAllowed, match="an administrator's account"):
            file(domain, "flags", ROOT)
