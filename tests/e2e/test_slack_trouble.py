"""When Slack itself says no: the approval message, its updates, the DM, the modal."""

from __future__ import annotations

import time

from bot.demo.rig import Rig
from bot.store.models import RequestState
from tests.e2e.e2e_support import last_ephemeral, succeeded


class TestSlackTrouble:
    def test_approval_message_not_postable(self, rig: Rig) -> None:
        """The bot is not in the channel: nothing stays pending, the requester learns why."""
        rig.standin.fail_next("chat.postMessage", "not_in_channel")
        rig.say("alice", "community tom@example.com locked out")
        rig.settle()
        answer = last_ephemeral(rig, "alice")
        assert "/invite" in answer and "Nothing was filed" in answer
        (rid,) = rig.request_ids()
        assert rig.request(rid).state is RequestState.CANCELLED
        assert ("system", "request.cancelled", "not_posted") in rig.audit(rid)

    def test_a_failed_update_is_repaired_by_the_sweeper(self, rig: Rig) -> None:
        rid = rig.file("alice", "community tom@example.com locked out")
        rig.standin.fail_next("chat.update", "internal_error", times=2)
        rig.approve("bob", rid)
        succeeded(rig, rid)
        assert rig.approval_message(rid).buttons()  # Slack still shows the old message
        assert rig.request(rid).message_stale
        rig.sweep()
        message = rig.approval_message(rid)
        assert message.buttons() == [] and "Done" in message.all_text()
        assert not rig.request(rid).message_stale

    def test_secret_not_deliverable(self, rig: Rig) -> None:
        """The DM cannot be opened: the link is dropped, never posted elsewhere, and the
        channel says it could not be delivered."""
        rid = rig.file("alice", "flags tom@example.com new laptop")
        rig.standin.fail_next("conversations.open", "user_disabled")
        rig.approve("bob", rid)
        succeeded(rig, rid)
        assert "could not be delivered" in (rig.request(rid).outcome_message or "")
        for secret in rig.sandbox("flags").secrets():
            assert rig.where_seen(secret) == []
        assert "could not be delivered" in rig.approval_message(rid).all_text()
        assert ("system", "secret.delivery_failed", "failed") in rig.audit(rid)

    def test_modal_cannot_open(self, rig: Rig) -> None:
        """Slack refuses views.open (an expired trigger): the approver is told, nothing moves."""
        rid = rig.file("alice", "community tom@example.com locked out")
        rig.standin.fail_next("views.open", "expired_trigger_id")
        rig.click("bob", rid, "approve")
        rig.settle()
        assert "try again" in last_ephemeral(rig, "bob").lower()
        assert rig.request(rid).state is RequestState.PENDING

    def test_form_cannot_open(self, rig: Rig) -> None:
        rig.standin.fail_next("views.open", "expired_trigger_id")
        rig.say("alice", "")
        rig.settle()
        assert "try again" in last_ephemeral(rig, "alice").lower()

    def test_rate_limited_views_open_never_holds_the_ack(self, rig: Rig) -> None:
        """Listeners answer before their ack goes out: a views.open that Slack rate-limits for
        30 s is not waited for (a trigger lives 3 s); the person is told at once. The rig's
        fixture fails the test if any ack took longer than Slack's 3 s."""
        rig.standin.fail_next("views.open", "ratelimited", status=429, retry_after=30, times=2)
        started = time.monotonic()
        rig.say("alice", "")
        assert "try again" in last_ephemeral(rig, "alice").lower()
        rid = rig.file("alice", "community tom@example.com locked out")
        rig.click("bob", rid, "approve")
        rig.settle()
        assert time.monotonic() - started < 5
        assert "try again" in last_ephemeral(rig, "bob").lower()
        assert len(rig.standin.calls_to("views.open")) == 2  # no retry of a dead trigger
