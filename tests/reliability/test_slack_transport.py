"""Slack unreachable at the transport level (connection reset, time-out): the same outcomes as
an error answer, never a request left pending without its approval message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.demo.rig import SIGNING_SECRET, Rig
from bot.demo.sandboxes import Sandbox
from bot.demo.standin.core import BOT_TOKEN
from bot.store.models import RequestState
from tests.reliability.reliability_support import count
from tests.soak.slack_proxy import SlackProxy


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[Rig, SlackProxy]]:
    """A rig whose bot reaches the Slack stand-in only through a proxy that can drop calls."""
    proxy = SlackProxy().start()
    slack = {"api_url": proxy.api_url, "bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET}

    def upstream(_name: str, _sandbox: Sandbox) -> None:
        proxy.upstream = rig.standin.api_url  # the stand-in is up before any sandbox

    rig = Rig(tmp_path, settings_options={"slack": slack}, prepare_sandbox=upstream)
    with rig:
        yield rig, proxy
    proxy.stop()
    assert rig.standin.violations == [], rig.standin.violations


def answers(rig: Rig, user: str) -> list[str]:
    return [m.all_text() for m in rig.standin.ephemerals(user=rig.user_id(user))]


def test_an_approval_post_whose_connection_keeps_dropping_files_nothing_and_says_so(
    proxied: tuple[Rig, SlackProxy],
) -> None:
    """Three resets (the call and its two retries): abandoned and told, as for an error answer."""
    rig, proxy = proxied
    proxy.fail_next("chat.postMessage", "reset", times=3)
    count("slack_faults", 3)
    rig.say("alice", "community tom@example.com locked out")
    text = rig.wait(
        lambda: next((t for t in answers(rig, "alice") if "Nothing was filed" in t), None),
        15,
        what=f"the requester's answer (they were told {answers(rig, 'alice')})",
    )
    rig.settle()
    assert "approval message" in text, text
    (rid,) = rig.request_ids()
    req = rig.request(rid)
    assert req.state is RequestState.CANCELLED, (req.state, req.approval_ts)
    assert req.outcome_kind == "not_posted"
    assert rig.sandbox("community").action_calls() == []


def test_a_secret_dm_whose_connection_drops_is_recorded_as_not_delivered(
    proxied: tuple[Rig, SlackProxy],
) -> None:
    """The reset happened; the DM with its secret could not be sent: the request says so."""
    rig, proxy = proxied
    rid = rig.file("alice", "flags tom@example.com locked out")
    proxy.fail_next("conversations.open", "reset", times=3)
    count("slack_faults", 3)
    rig.approve("erin", rid)
    req = rig.wait_state(rid)
    assert req.state is RequestState.SUCCEEDED, (req.state, req.outcome_message)
    actions = [action for _, action, _ in rig.audit(rid)]
    assert actions[-1] == "secret.delivery_failed", actions
