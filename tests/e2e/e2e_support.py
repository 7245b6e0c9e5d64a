"""Checks shared by the end-to-end tests: what an approval message shows after a decision."""

from __future__ import annotations

from bot.demo.rig import Rig
from bot.demo.standin import Message
from bot.store.models import RequestState, ResetRequest


def decided_in_place(rig: Rig, request_id: str, *, who: str, words: str) -> Message:
    """The approval message was edited in place: no buttons, who decided, the outcome words."""
    message = rig.approval_message(request_id)
    assert message.edited, "the approval message was never updated"
    assert message.buttons() == [], "a decided request still shows buttons"
    text = message.all_text()
    assert f"<@{rig.user_id(who)}>" in text, f"the message does not say {who} decided"
    assert words.lower() in text.lower(), text
    return message


def thread_texts(rig: Rig, request_id: str) -> list[str]:
    req = rig.request(request_id)
    assert req.approval_channel and req.approval_ts
    return [m.all_text() for m in rig.standin.thread(req.approval_channel, req.approval_ts)]


def dm_texts(rig: Rig, user: str) -> list[str]:
    return [m.all_text() for m in rig.standin.dms(rig.user_id(user))]


def ephemeral_texts(rig: Rig, user: str) -> list[str]:
    return [m.all_text() for m in rig.standin.ephemerals(user=rig.user_id(user))]


def last_ephemeral(rig: Rig, user: str) -> str:
    texts = ephemeral_texts(rig, user)
    assert texts, f"{user} was told nothing"
    return texts[-1]


def succeeded(rig: Rig, request_id: str) -> ResetRequest:
    req = rig.wait_state(request_id)
    assert req.state is RequestState.SUCCEEDED, (req.state, req.outcome_message)
    return req


def only_in_dm(rig: Rig, secret: str, user: str) -> None:
    """``secret`` reached Slack exactly once: a chat.postMessage into ``user``'s DM."""
    dm = rig.standin.dm_channel(rig.user_id(user))
    assert rig.where_seen(secret) == [f"chat.postMessage {dm}"], rig.where_seen(secret)
