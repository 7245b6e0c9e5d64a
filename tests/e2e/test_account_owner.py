"""The person whose password is reset, over signed HTTP: found in Slack, asked before anything
is done, the only one who can answer, the one who gets the secret, told after every reset."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from bot.demo.rig import SECURITY, VIC, Rig
from bot.store.models import Confirmation, RequestState
from tests.e2e.e2e_support import dm_texts, succeeded, thread_texts

PROVIDERS = [
    ("community", "community vic@example.com locked out after the SSO change", None),
    ("flags", "flags vic@example.com new laptop, cannot sign in", "http"),
    ("edge", "edge vic@example.com forgot password after holiday", None),
    ("gateway", "gateway reset vic@example.com locked out of the dashboard", ""),
]


def security_texts(rig: Rig) -> list[str]:
    return [m.all_text() for m in rig.standin.messages(SECURITY)]


class TestEachProviderKind:
    @pytest.mark.parametrize(("provider", "text", "secret_prefix"), PROVIDERS)
    def test_confirm_approve_reset_and_tell_the_owner(
        self, rig: Rig, provider: str, text: str, secret_prefix: str | None
    ) -> None:
        """Owner in Slack → their confirmation DM → approval → one provider call → the secret,
        if any, only in the owner's DM → the owner told what was done."""
        rid = rig.file("alice", text)
        shown = rig.approval_message(rid).all_text()
        assert "<@U0VIC>" in shown and "asked to confirm" in shown
        question = rig.owner_dm("vic", rid, "confirm")
        assert "<@U0ALICE>" in question.all_text() and rid in question.all_text()

        rig.approve("bob", rid)
        rig.settle()
        assert rig.request(rid).state is RequestState.PENDING  # approved, not yet confirmed
        assert rig.sandbox(provider).action_calls() == []

        rig.answer_as_owner("vic", rid, "confirm")
        succeeded(rig, rid)
        assert len(rig.sandbox(provider).action_calls()) == 1
        assert "confirmed" in rig.approval_message(rid).all_text()

        vic_dm = rig.standin.dm_channel("U0VIC")
        alice_dm = rig.standin.dm_channel("U0ALICE")
        for secret in rig.sandbox(provider).secrets():
            assert rig.where_seen(secret) in ([], [f"chat.postMessage {vic_dm}"]), secret[:6]
            assert f"chat.postMessage {alice_dm}" not in rig.where_seen(secret)
        if secret_prefix is not None:
            assert rig.request(rid).secret_recipient == "U0VIC"  # noqa: S105 - a user id
            assert any("only to the account's owner" in t for t in thread_texts(rig, rid))
        assert any("This wasn't me" in t and rid in t for t in dm_texts(rig, "vic"))
        actions = [a for _, a, _ in rig.audit(rid)]
        assert "target.asked" in actions and "target.confirmed" in actions
        assert actions[-1] == "target.notified"


class TestNo:
    def test_no_ends_it_alerts_security_and_refuses_later_approvals(self, rig: Rig) -> None:
        rid = rig.file("alice", "flags vic@example.com new laptop")
        rig.approve("bob", rid)
        rig.answer_as_owner("vic", rid, "reject")
        req = rig.wait_state(rid, RequestState.REJECTED_BY_TARGET)
        assert req.state is RequestState.REJECTED_BY_TARGET
        rig.settle()
        alert = rig.wait(lambda: security_texts(rig), what="the security alert")[-1]
        for fact in ("<@U0ALICE>", "<@U0VIC>", "flags", "new laptop", rid):
            assert fact in alert, fact
        assert "did not ask" in rig.approval_message(rid).all_text()
        assert any(rid in t and "owner" in t for t in dm_texts(rig, "alice"))
        assert any(rid in t for t in dm_texts(rig, "bob"))
        rig.click("carol", rid, "approve", allow_stale=True)  # a stale copy of the message
        rig.settle()
        assert any("rejected_by_target" in m.all_text() for m in rig.standin.ephemerals())
        assert rig.sandbox("flags").action_calls() == []
        assert rig.request(rid).state is RequestState.REJECTED_BY_TARGET
        assert "request.rejected_by_target" in [a for _, a, _ in rig.audit(rid)]

    def test_a_late_answer_is_refused(self, rig: Rig) -> None:
        rid = rig.file("alice", "edge vic@example.com forgot password")
        rig.say("alice", f"cancel {rid}")
        rig.answer_as_owner("vic", rid, "confirm")
        rig.settle()
        assert rig.request(rid).confirmation == Confirmation.AWAITING
        answers = [m.all_text() for m in rig.standin.messages(rig.standin.dm_channel("U0VIC"))]
        assert any("no longer open" in t for t in answers) or any(
            "no longer open" in m.all_text() for m in rig.standin.ephemerals(user="U0VIC")
        )


class TestForgery:
    def test_someone_elses_click_changes_nothing(self, rig: Rig) -> None:
        """A click (or a forged payload) by anyone but the owner is refused."""
        rid = rig.file("alice", "community vic@example.com locked out")
        question = rig.owner_dm("vic", rid, "confirm")
        for intruder in ("U0ALICE", "U0BOB", "U0ADA"):
            rig.driver.click(intruder, question, "target_confirms")
            rig.driver.click(intruder, question, "target_rejects")
        rig.settle()
        req = rig.request(rid)
        assert (req.state, req.confirmation) == (RequestState.PENDING, Confirmation.AWAITING)
        assert security_texts(rig) == []

    def test_fifty_concurrent_confirmations_make_one_transition(self, rig: Rig) -> None:
        rid = rig.file("alice", "flags vic@example.com new laptop")
        rig.approve("bob", rid)
        rig.settle()
        question = rig.owner_dm("vic", rid, "confirm")
        barrier = threading.Barrier(50)

        def click() -> None:
            barrier.wait()
            rig.driver.click("U0VIC", question, "target_confirms", allow_stale=True)

        threads = [threading.Thread(target=click) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        succeeded(rig, rid)
        rig.settle()
        assert len(rig.sandbox("flags").action_calls()) == 1
        assert [a for _, a, _ in rig.audit(rid)].count("target.confirmed") == 1


class TestPolicy:
    def test_required_refuses_a_target_not_in_slack(self, make_rig: Callable[..., Rig]) -> None:
        rig = make_rig(provider_options={"edge": {"verify_target": "required"}})
        before = rig.request_ids()
        rig.say("alice", "edge tom@example.com forgot password")
        assert rig.request_ids() == before
        answer = rig.standin.calls_to("response_url")[-1]
        assert "must confirm" in str(answer.params) and "not in this Slack" in str(answer.params)

    def test_this_wasnt_me_alerts_and_marks_the_message(self, rig: Rig) -> None:
        rid = rig.file("alice", "community vic@example.com locked out")
        rig.answer_as_owner("vic", rid, "confirm")
        rig.approve("bob", rid)
        succeeded(rig, rid)
        rig.answer_as_owner("vic", rid, "dispute")
        rig.wait(lambda: rig.request(rid).disputed_at, what="the dispute")
        rig.settle()
        assert any("not their doing" in t for t in security_texts(rig))
        assert "was not theirs" in rig.approval_message(rid).all_text()
        assert "target.disputed" in [a for _, a, _ in rig.audit(rid)]


def test_vic_is_in_the_workspace(rig: Rig) -> None:
    """The rig's directory: the owner's e-mail is what users.lookupByEmail finds."""
    user = rig.standin.user("U0VIC")
    assert user is not None and user.email == VIC


class TestSlackCannotBeAsked:
    def test_a_failed_look_up_is_shown_and_the_request_goes_on(self, rig: Rig) -> None:
        """ "if_in_slack": approvers see that the owner could not be checked, and decide."""
        rig.standin.fail_next("users.lookupByEmail", "missing_scope")
        rid = rig.file("alice", "community vic@example.com locked out")
        shown = rig.approval_message(rid).all_text()
        assert "could not be checked in Slack (missing_scope)" in shown
        rig.approve("bob", rid)
        succeeded(rig, rid)

    def test_required_refuses_when_slack_cannot_be_asked(
        self, make_rig: Callable[..., Rig]
    ) -> None:
        rig = make_rig(provider_options={"community": {"verify_target": "required"}})
        rig.standin.fail_next("users.lookupByEmail", "missing_scope")
        before = rig.request_ids()
        rig.say("alice", "community vic@example.com locked out")
        assert rig.request_ids() == before
        answer = rig.standin.calls_to("response_url")[-1]
        assert "could not look them up in Slack (missing_scope)" in str(answer.params)

    def test_an_owner_whose_dm_fails_is_shown_as_unreachable(self, rig: Rig) -> None:
        rig.standin.fail_next("conversations.open", "user_disabled")
        rid = rig.file("alice", "edge vic@example.com forgot password")
        rig.settle()
        req = rig.request(rid)
        assert req.confirmation == Confirmation.UNREACHABLE
        assert "could not be asked" in rig.approval_message(rid).all_text()


class TestPrivileged:
    @pytest.mark.parametrize("provider", ["community", "flags", "edge", "gateway"])
    def test_an_administrator_needs_two_approvers_and_their_word(
        self, rig: Rig, provider: str
    ) -> None:
        """Each vendor's look-up reports the admin; the message says so; two approvers."""
        action = "allow " if provider == "gateway" else ""
        rid = rig.file("alice", f"{provider} {action}ray@example.com locked out")
        shown = rig.approval_message(rid).all_text()
        assert "administrator account" in shown and "needs 2 approvals" in shown
        rig.answer_as_owner("ray", rid, "confirm")
        rig.approve("bob", rid)
        rig.settle()
        assert rig.request(rid).state is RequestState.PENDING
        rig.approve("carol", rid)
        succeeded(rig, rid)
        assert len(rig.sandbox(provider).action_calls()) == 1

    def test_refuse_privileged(self, make_rig: Callable[..., Rig]) -> None:
        rig = make_rig(provider_options={"flags": {"refuse_privileged": True}})
        before = rig.request_ids()
        rig.say("alice", "flags ray@example.com locked out")
        assert rig.request_ids() == before
        answer = rig.standin.calls_to("response_url")[-1]
        assert "is an administrator" in str(answer.params)
