"""Slack answering `ratelimited` or 5xx: the request's state stays right, retries honour
Retry-After, and a message that could not be updated is brought up to date by the sweeper."""

from __future__ import annotations

from bot.demo.rig import SUPPORT, Rig
from bot.demo.standin.workspace import Call
from bot.store.models import RequestState
from tests.reliability.reliability_support import count


def fail(
    rig: Rig,
    method: str,
    error: str = "ratelimited",
    *,
    status: int | None = None,
    retry_after: int | None = 1,
    times: int = 1,
) -> None:
    rig.standin.fail_next(method, error, status=status, retry_after=retry_after, times=times)
    count("slack_faults", times)


def updates(rig: Rig) -> list[Call]:
    return rig.standin.calls_to("chat.update")


class TestRetriesHonourRetryAfter:
    def test_a_ratelimited_update_is_retried_after_the_wait(self, rig: Rig) -> None:
        """429 + Retry-After: 1 on chat.update: retried after ≥ 1 s, and the message is right."""
        rid = rig.file("alice", "community tom@example.com locked out")
        fail(rig, "chat.update", retry_after=1)
        rig.approve("bob", rid)
        assert rig.wait_state(rid).state is RequestState.SUCCEEDED
        calls = updates(rig)
        assert calls[0].injected and calls[0].status == 429
        assert calls[1].time - calls[0].time >= 0.95, "Retry-After was not honoured"
        assert not rig.request(rid).message_stale
        assert "Done" in rig.approval_message(rid).all_text()

    def test_a_5xx_on_update_is_retried(self, rig: Rig) -> None:
        rid = rig.file("alice", "community tom@example.com locked out")
        fail(rig, "chat.update", "internal_error", status=503)
        rig.approve("bob", rid)
        assert rig.wait_state(rid).state is RequestState.SUCCEEDED
        assert [c.status for c in updates(rig)][:2] == [503, 200]
        assert "Done" in rig.approval_message(rid).all_text()

    def test_a_ratelimited_approval_post_still_files(self, rig: Rig) -> None:
        """The approval message is posted after the wait; the request is filed once."""
        fail(rig, "chat.postMessage", retry_after=1)
        rid = rig.file("alice", "community tom@example.com locked out")
        posts = rig.standin.calls_to("chat.postMessage", channel=SUPPORT)
        assert [c.status for c in posts] == [429, 200]
        assert posts[1].time - posts[0].time >= 0.95
        assert rig.request(rid).state is RequestState.PENDING
        assert rig.request_ids() == {rid}


class TestStaleMessages:
    def test_an_update_that_keeps_failing_is_resynced_by_the_sweeper(self, rig: Rig) -> None:
        """Slack refuses every update for a while: the outcome stands, the message is marked
        stale, and the next sweep brings it up to date."""
        rid = rig.file("alice", "community tom@example.com locked out")
        fail(rig, "chat.update", "internal_error", status=500, times=6)
        rig.approve("bob", rid)
        req = rig.wait_state(rid)
        assert req.state is RequestState.SUCCEEDED
        assert req.message_stale
        assert rig.approval_message(rid).buttons(), "the stale message still shows the buttons"
        sweeps = 0
        while rig.request(rid).message_stale and sweeps < 10:  # Slack recovers meanwhile
            rig.sweep()
            sweeps += 1
        assert not rig.request(rid).message_stale
        assert sweeps >= 1
        message = rig.approval_message(rid)
        assert message.buttons() == []
        assert "Done" in message.all_text()

    def test_a_click_on_a_stale_message_is_refused_and_refreshes_it(self, rig: Rig) -> None:
        """Someone clicks Approve on the stale message: refused, told why, message refreshed."""
        rid = rig.file("alice", "community tom@example.com locked out")
        fail(rig, "chat.update", "internal_error", status=500, times=6)
        rig.approve("bob", rid)
        assert rig.wait_state(rid).state is RequestState.SUCCEEDED
        rig.wait(lambda: len([c for c in updates(rig) if c.injected]) >= 6)
        rig.settle()
        rig.click("carol", rid, "approve")
        rig.settle()
        assert rig.request(rid).state is RequestState.SUCCEEDED
        assert len(rig.sandbox("community").action_calls()) == 1
        told = [m.all_text() for m in rig.standin.ephemerals(user="U0CAROL")]
        assert any("succeeded" in t for t in told), told
        assert not rig.request(rid).message_stale
        assert rig.approval_message(rid).buttons() == []

    def test_a_failed_dm_does_not_change_the_outcome(self, rig: Rig) -> None:
        """The requester's DM cannot be opened: the request still succeeded, on record."""
        rid = rig.file("alice", "community tom@example.com locked out")
        fail(rig, "conversations.open", "internal_error", status=500, times=6)
        rig.approve("bob", rid)
        req = rig.wait_state(rid)
        assert req.state is RequestState.SUCCEEDED
        assert "Done" in rig.approval_message(rid).all_text()
        assert len(rig.sandbox("community").action_calls()) == 1


class TestApprovalMessageNotPosted:
    def test_an_approval_post_that_keeps_failing_files_nothing_and_says_so(self, rig: Rig) -> None:
        fail(rig, "chat.postMessage", "internal_error", status=500, times=3)
        rig.say("alice", "community tom@example.com locked out")
        text = rig.wait(
            lambda: next(
                (
                    m.all_text()
                    for m in rig.standin.ephemerals(user="U0ALICE")
                    if "Nothing was filed" in m.all_text()
                ),
                None,
            ),
            15,
            what="the requester's answer",
        )
        rig.settle()
        assert "approval message" in text, text
        states = {rig.request(r).state for r in rig.request_ids()}
        assert states <= {RequestState.CANCELLED}, states
        assert rig.sandbox("community").action_calls() == []
