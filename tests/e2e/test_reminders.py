"""Approvers as a team, over signed HTTP: a reminder in the thread, then an escalated copy
whose buttons work and which follows every decision, each sent once."""

from __future__ import annotations

from collections.abc import Callable

from bot.demo.rig import ESCALATIONS, Rig
from bot.demo.standin import Message
from bot.store.models import RequestState
from tests.e2e.e2e_support import succeeded, thread_texts


def test_a_reminder_names_who_can_decide_once(rig: Rig) -> None:
    rid = rig.file("alice", "community tom@example.com locked out")
    rig.clock.advance(minutes=16)
    rig.sweep()
    rig.sweep()
    reminders = [t for t in thread_texts(rig, rid) if "still waiting" in t]
    assert len(reminders) == 1
    for approver in ("<@U0BOB>", "<@U0CAROL>"):
        assert approver in reminders[0]
    assert "and the admins" in reminders[0]
    assert "<@U0ALICE>" not in reminders[0]
    assert rig.request(rid).reminded_at is not None


def test_the_escalated_copy_works_and_follows_the_decision(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(
        provider_options={"edge": {"escalate_after_minutes": 30, "escalation_channel": ESCALATIONS}}
    )
    rid = rig.file("alice", "edge tom@example.com forgot password")
    rig.clock.advance(minutes=31)
    rig.sweep()
    rig.sweep()
    copies = [m for m in rig.standin.messages(ESCALATIONS) if rid in m.all_text()]
    assert len(copies) == 1 and len(copies[0].buttons()) == 2
    uid = rig.user_id("carol")
    mark = len(rig.standin.views_for(uid))
    rig.driver.click(uid, copies[0], "approve_request")
    modal = rig.wait(lambda: rig.standin.views_for(uid)[mark:], what="the approval modal")[-1]
    rig.driver.submit_view(uid, modal, {})
    succeeded(rig, rid)
    rig.settle()
    copy = rig.standin.message(ESCALATIONS, copies[0].ts)
    assert copy is not None and copy.buttons() == [] and "Done" in copy.all_text()
    assert rig.approval_message(rid).buttons() == []
    assert rig.request(rid).state is RequestState.SUCCEEDED


def test_approvers_dms_work_and_every_copy_follows_the_decision(
    make_rig: Callable[..., Rig],
) -> None:
    """notify_approvers = "both": each eligible approver (never the requester) gets a copy in
    their DM; a decision from one DM updates the channel message and every other copy."""
    rig = make_rig(provider_options={"edge": {"notify_approvers": "both"}})
    rid = rig.file("alice", "edge tom@example.com forgot password")
    rig.settle()

    def copy_for(user: str) -> list[Message]:
        return [
            m for m in rig.standin.dms(rig.user_id(user)) if m.buttons() and rid in m.all_text()
        ]

    for approver in ("bob", "carol", "ada"):
        assert len(copy_for(approver)) == 1, approver
    assert copy_for("alice") == [] and copy_for("erin") == []  # requester; scoped elsewhere
    uid = rig.user_id("bob")
    mark = len(rig.standin.views_for(uid))
    rig.driver.click(uid, copy_for("bob")[0], "approve_request")
    modal = rig.wait(lambda: rig.standin.views_for(uid)[mark:], what="the approval modal")[-1]
    rig.driver.submit_view(uid, modal, {})
    succeeded(rig, rid)
    rig.settle()
    assert rig.approval_message(rid).buttons() == []
    for approver in ("bob", "carol", "ada"):
        assert copy_for(approver) == [], f"{approver}'s copy still has buttons"


def test_dm_only_files_without_a_channel_message(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(provider_options={"community": {"notify_approvers": "dm"}})
    before = rig.request_ids()
    rig.say("alice", "community tom@example.com locked out")
    rid = rig.wait(lambda: rig.request_ids() - before, what="the request").pop()
    rig.settle()
    assert rig.request(rid).approval_ts is None
    assert any(rid in m.all_text() for m in rig.standin.dms("U0BOB"))
