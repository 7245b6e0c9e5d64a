"""Deciding: deny, cancel, expiry, self-approval, roles and scopes, quorum — each re-checked."""

from __future__ import annotations

from collections.abc import Callable

from bot.demo.rig import Rig
from bot.store.models import RequestState
from tests.e2e.e2e_support import (
    decided_in_place,
    dm_texts,
    last_ephemeral,
    succeeded,
    thread_texts,
)

MakeRig = Callable[..., Rig]


def refused_click(
    rig: Rig, user: str, request_id: str, button: str = "approve", *, stale: bool = False
) -> str:
    """Click; no modal opens, the person gets an ephemeral saying why. Returns its text."""
    uid = rig.user_id(user)
    views = len(rig.standin.views_for(uid))
    told = len(rig.standin.ephemerals(user=uid))
    response = rig.click(user, request_id, button, allow_stale=stale)
    assert response.status_code == 200
    rig.wait(lambda: len(rig.standin.ephemerals(user=uid)) > told, what=f"{user} told why")
    rig.settle()
    assert len(rig.standin.views_for(uid)) == views, "a modal opened for a refused click"
    return last_ephemeral(rig, user)


class TestDeny:
    def test_deny_needs_a_reason_and_tells_the_requester(self, rig: Rig) -> None:
        """An empty reason is refused in the modal; a real one denies and informs everyone."""
        rid = rig.file("alice", "community tom@example.com locked out")
        uid = rig.user_id("bob")
        mark = len(rig.standin.views_for(uid))
        rig.click("bob", rid, "deny")
        modal = rig.wait(lambda: rig.standin.views_for(uid)[mark:], what="deny modal")[-1]
        rig.driver.submit_view(uid, modal, {"reason": "   "})  # Slack counts spaces; we do not
        assert "reason" in rig.standin.view(modal.id).errors  # type: ignore[union-attr]
        assert rig.request(rid).state is RequestState.PENDING

        rig.driver.submit_view(uid, modal, {"reason": "not verified with the user's manager"})
        req = rig.wait_state(rid, RequestState.DENIED)
        assert req.decided_by == uid
        message = decided_in_place(rig, rid, who="bob", words="Denied")
        assert "not verified" in message.all_text()
        assert any("Denied" in t for t in thread_texts(rig, rid))
        assert any("Denied" in t and "not verified" in t for t in dm_texts(rig, "alice"))
        assert rig.sandbox("community").action_calls() == []
        assert ("U0BOB", "request.denied", "denied") in rig.audit(rid)


class TestCancel:
    def test_requester_cancels(self, rig: Rig) -> None:
        rid = rig.file("alice", "community tom@example.com locked out")
        rig.say("alice", f"cancel {rid}")
        assert "cancelled" in last_ephemeral(rig, "alice")
        rig.wait_state(rid, RequestState.CANCELLED)
        decided_in_place(rig, rid, who="alice", words="Cancelled")
        assert ("U0ALICE", "request.cancelled", "cancelled") in rig.audit(rid)

    def test_someone_else_cannot_cancel_but_an_admin_can(self, rig: Rig) -> None:
        rid = rig.file("alice", "community tom@example.com locked out")
        rig.say("bob", f"cancel {rid}")
        assert "Only the requester or an admin" in last_ephemeral(rig, "bob")
        assert rig.request(rid).state is RequestState.PENDING
        assert rig.approval_message(rid).buttons()

        rig.say("ada", f"cancel {rid}")
        rig.wait_state(rid, RequestState.CANCELLED)
        decided_in_place(rig, rid, who="ada", words="Cancelled")


class TestExpiry:
    def test_expired_request_cannot_be_approved(self, rig: Rig) -> None:
        """After the TTL the sweeper marks it expired; a late Approve is refused, nothing moves."""
        rid = rig.file("alice", "community tom@example.com locked out")
        rig.clock.advance(minutes=61)
        rig.sweep()
        assert rig.request(rid).state is RequestState.EXPIRED
        message = rig.approval_message(rid)
        assert message.buttons() == [] and "Expired" in message.all_text()
        assert any("Expired" in t for t in dm_texts(rig, "alice"))
        before = len(rig.audit(rid))

        text = refused_click(rig, "bob", rid, stale=True)
        assert "expired" in text
        assert rig.request(rid).state is RequestState.EXPIRED
        assert len(rig.audit(rid)) == before
        assert rig.sandbox("community").action_calls() == []

    def test_expired_before_the_sweep_is_refused_at_the_click(self, rig: Rig) -> None:
        """The click itself re-checks the time: overdue is expired even if no sweep ran yet."""
        rid = rig.file("alice", "community tom@example.com locked out")
        rig.clock.advance(minutes=61)
        assert "expired" in refused_click(rig, "bob", rid)
        rig.settle()
        assert rig.request(rid).state is RequestState.EXPIRED
        assert rig.approval_message(rid).buttons() == []
        assert rig.sandbox("community").action_calls() == []


class TestWhoMayDecide:
    def test_self_approval_is_refused(self, rig: Rig) -> None:
        """Bob is an approver who files; he cannot approve his own request, Carol can."""
        rid = rig.file("bob", "community tom@example.com locked out")
        assert "own request" in refused_click(rig, "bob", rid)
        assert rig.request(rid).state is RequestState.PENDING
        rig.approve("carol", rid)
        succeeded(rig, rid)

    def test_self_approval_when_allowed(self, make_rig: MakeRig) -> None:
        rig = make_rig(provider_options={"community": {"allow_self_approval": True}})
        rid = rig.file("bob", "community tom@example.com locked out")
        rig.approve("bob", rid)
        succeeded(rig, rid)
        assert len(rig.sandbox("community").action_calls()) == 1

    def test_without_a_role_nothing_is_filed(self, rig: Rig) -> None:
        rig.say("dan", "community tom@example.com locked out")
        assert "requester role" in last_ephemeral(rig, "dan")
        rig.settle()
        assert rig.request_ids() == set()
        assert rig.standin.calls_to("chat.postMessage") == []

    def test_without_a_role_no_decision(self, rig: Rig) -> None:
        rid = rig.file("alice", "community tom@example.com locked out")
        assert "approver role" in refused_click(rig, "dan", rid)
        assert "approver role" in refused_click(rig, "alice", rid, "deny")
        assert rig.request(rid).state is RequestState.PENDING

    def test_approver_scoped_to_another_provider(self, rig: Rig) -> None:
        """Erin approves for flags only: refused on community, allowed on flags."""
        community = rig.file("alice", "community tom@example.com locked out")
        assert "approver role" in refused_click(rig, "erin", community)
        assert rig.request(community).state is RequestState.PENDING

        flags = rig.file("alice", "flags tom@example.com locked out")
        rig.approve("erin", flags)
        succeeded(rig, flags)

    def test_role_revoked_after_the_modal_opened(self, rig: Rig) -> None:
        """The submission is re-checked: a grant revoked meanwhile stops the approval, and the
        approver is told beside the approval message."""
        rid = rig.file("alice", "community tom@example.com locked out")
        uid = rig.user_id("carol")
        rig.click("carol", rid, "approve")
        modal = rig.wait(lambda: rig.standin.views_for(uid), what="approval modal")[-1]
        rig.say("ada", "roles revoke <@U0CAROL> approver")
        rig.driver.submit_view(uid, modal, {})
        rig.settle()
        told = rig.standin.ephemerals(user=uid)[-1]
        assert told.channel == rig.request(rid).approval_channel
        assert "approval was not recorded" in told.all_text()
        assert "approver role" in told.all_text()
        assert rig.request(rid).state is RequestState.PENDING
        assert rig.sandbox("community").action_calls() == []


class TestQuorum:
    def test_two_distinct_approvers(self, make_rig: MakeRig) -> None:
        """approvals_required = 2: the same person twice is refused; the provider is called
        only after a second person approves."""
        rig = make_rig(provider_options={"community": {"approvals_required": 2}})
        rid = rig.file("alice", "community tom@example.com locked out")
        rig.approve("bob", rid)
        rig.settle()
        req = rig.request(rid)
        assert req.state is RequestState.PENDING
        assert rig.sandbox("community").action_calls() == []
        message = rig.approval_message(rid)
        assert message.buttons() and "1 of 2" in message.all_text()
        assert any("1 of 2" in t for t in thread_texts(rig, rid))

        assert "already approved" in refused_click(rig, "bob", rid)
        assert rig.sandbox("community").action_calls() == []

        rig.approve("carol", rid)
        succeeded(rig, rid)
        assert len(rig.sandbox("community").action_calls()) == 1
        text = decided_in_place(rig, rid, who="carol", words="Done").all_text()
        assert "<@U0BOB>" in text and "2 of 2" in text


class TestLateClicks:
    def test_a_click_on_a_finished_request_changes_nothing(self, rig: Rig) -> None:
        """A client that still shows the buttons: Approve and Deny are refused, once done."""
        rid = rig.file("alice", "community tom@example.com locked out")
        rig.approve("bob", rid)
        succeeded(rig, rid)
        before = len(rig.audit(rid))
        assert "succeeded" in refused_click(rig, "carol", rid, stale=True)
        assert "succeeded" in refused_click(rig, "carol", rid, "deny", stale=True)
        assert len(rig.audit(rid)) == before
        assert len(rig.sandbox("community").action_calls()) == 1
