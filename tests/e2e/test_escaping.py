"""Free text typed by a requester reaches approvers literally: no ping, no link, no formatting."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.demo.rig import Rig

TYPED = "Ping <!channel> and <http://evil.example|click> *bold* a & b"
HOSTILE = ("<!channel>", "<http://evil", "<!here>")


def texts(node: Any, out: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(type, text) of every text object in Block Kit JSON."""
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text", "text") and isinstance(
            node.get("text"), str
        ):
            out.append((str(node["type"]), node["text"]))
        for value in node.values():
            texts(value, out)
    elif isinstance(node, list):
        for item in node:
            texts(item, out)
    return out


def live_controls(rig: Rig) -> list[str]:
    """Every mrkdwn text the bot sent anywhere (messages, acks, views…) that holds a raw
    hostile sequence. Top-level ``text`` is mrkdwn too; rich-text elements are literal."""
    found = []
    for call in rig.standin.calls:
        params = call.params if isinstance(call.params, dict) else {}
        scopes = [params, params.get("body") if isinstance(params.get("body"), dict) else {}]
        candidates = [s.get("text") for s in scopes if isinstance(s, dict)]
        for key in ("blocks", "view"):
            for scope in scopes:
                value = scope.get(key) if isinstance(scope, dict) else None
                if isinstance(value, str) and value[:1] in "[{":
                    value = json.loads(value)
                candidates += [t for kind, t in texts(value, []) if kind == "mrkdwn"]
        for text in candidates:
            if isinstance(text, str) and any(bad in text for bad in HOSTILE):
                found.append(f"{call.method}: {text[:80]}")
    return found


def shown_literally(blocks: list[dict[str, Any]], fallback: str) -> None:
    """The reason is one literal rich-text element; no mrkdwn carries a live control sequence."""
    found = texts(blocks, [])
    assert ("text", TYPED) in found, found
    for kind, text in [*found, ("mrkdwn", fallback)]:
        if kind == "mrkdwn":
            for bad in HOSTILE:
                assert bad not in text, text


class TestReasonIsLiteral:
    @pytest.mark.parametrize("how", ["command", "form"])
    def test_approval_message_and_modal(self, rig: Rig, how: str) -> None:
        if how == "command":
            # What Slack sends for that text: & < > typed by the person arrive as entities,
            # an @channel typed as such arrives as <!channel>.
            sent = (
                TYPED.replace("&", "&amp;").replace("<h", "&lt;h").replace("|click>", "|click&gt;")
            )
            rid = rig.file("alice", f"community tom@example.com {sent}")
        else:
            rid = rig.file_form("alice", "community", "tom@example.com", TYPED)
        assert rig.request(rid).reason == TYPED
        message = rig.approval_message(rid)
        shown_literally(message.blocks, message.text)

        uid = rig.user_id("bob")
        rig.click("bob", rid, "approve")
        modal = rig.wait(lambda: rig.standin.views_for(uid), what="the approval modal")[-1]
        shown_literally(modal.blocks, "")

        # Whatever else the bot said, nothing carried a live @channel or the fake link.
        assert live_controls(rig) == []

    def test_deny_reason_and_note_are_escaped(self, rig: Rig) -> None:
        rid = rig.file("alice", "community tom@example.com locked out")
        rig.deny("bob", rid, "no <!channel> see <http://evil.example|here>")
        rig.wait_state(rid)
        assert live_controls(rig) == []
        assert "&lt;!channel&gt;" in rig.approval_message(rid).all_text()
