"""The transcript reads like the channel does to a person; a pure function of the state."""

from __future__ import annotations

from typing import Any

from bot.demo.standin import BOT_USER_ID, Message, User, Workspace, render
from bot.demo.standin.transcript import blocks_text, mrkdwn_text
from bot.demo.standin.workspace import Channel, Command, Version

ALICE = "U0ALICE"
BOB = "U0BOB"


def workspace() -> Workspace:
    ws = Workspace()
    ws.users = {
        BOT_USER_ID: User(BOT_USER_ID, "resetbot", is_bot=True),
        ALICE: User(ALICE, "alice", real_name="Alice Archer"),
        BOB: User(BOB, "bob", real_name="Bob Baker"),
    }
    ws.channels = {"C1": Channel("C1", "support"), "D1": Channel("D1", "dm", dm_user=ALICE)}
    return ws


def bot(channel: str, ts: str, text: str = "", **extra: object) -> Message:
    return Message(channel=channel, ts=ts, user=BOT_USER_ID, text=text, bot_id="B0", **extra)  # type: ignore[arg-type]


class TestBlocks:
    def test_sections_fields_context_and_buttons(self) -> None:
        """Section text, fields, context and buttons each become readable lines."""
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": "Reset request"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*Who:* <@U0BOB>"},
                "fields": [{"type": "mrkdwn", "text": "*Provider*\ncommunity"}],
            },
            {"type": "divider"},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "id `r1`"},
                    {"type": "plain_text", "text": "expires 10:00"},
                ],
            },
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Approve"}},
                    {"type": "button", "text": {"type": "plain_text", "text": "Deny"}},
                ],
            },
        ]
        assert blocks_text(blocks, workspace()) == [
            "Reset request",
            "*Who:* @bob",
            "*Provider*",
            "community",
            "────────",
            "id `r1`  expires 10:00",
            "[Approve] [Deny]",
        ]

    def test_links_channels_and_escapes(self) -> None:
        """Mentions, channel links and URLs read as text; HTML escapes are undone."""
        text = "<#C1> <https://x.example/r|the link> <!here> a &lt;b&gt; &amp; c <@U9>"
        assert mrkdwn_text(text, workspace()) == (
            "#support the link (https://x.example/r) @here a <b> & c @U9"
        )


class TestRender:
    def test_channels_threads_edits_ephemerals_and_dms(self) -> None:
        """Threads indent under their parent, edits and private messages are marked."""
        ws = workspace()
        parent = bot(
            "C1",
            "1700000000.000100",
            "Approved",
            history=[Version("Pending", [], "1700000000.000500")],
        )
        ws.commands = [
            Command("C1", ALICE, "/reset-password", "community bob", "1700000000.000050")
        ]
        ws.messages = [
            parent,
            bot("C1", "1700000000.000200", "Looking up…", ephemeral_to=ALICE),
            bot("D1", "1700000000.000250", "Your link: <https://r.example|open>"),
            bot("C1", "1700000000.000300", "Done", thread_ts=parent.ts),
            bot("C1", "1700000000.000400", "gone", deleted=True),
        ]
        assert render(ws).splitlines() == [
            "#support",
            "  22:13:20  Alice Archer typed /reset-password community bob"
            "  (only visible to @alice)",
            "  22:13:20  resetbot  (edited)",
            "                Approved",
            "    ↳ 22:13:20  resetbot",
            "                    Done",
            "  22:13:20  resetbot  (only visible to @alice)",
            "                Looking up…",
            "",
            "Direct messages with @alice",
            "  22:13:20  resetbot",
            "                Your link: open (https://r.example)",
        ]

    def test_options_hide_times_ephemerals_and_commands(self) -> None:
        ws = workspace()
        ws.commands = [Command("C1", ALICE, "/reset-password", "", "1700000000.000050")]
        ws.messages = [
            bot("C1", "1700000000.000100", "hi"),
            bot("C1", "1700000000.000200", "psst", ephemeral_to=ALICE),
        ]
        assert render(ws, times=False, ephemerals=False, commands=False) == (
            "#support\n  resetbot\n      hi\n"
        )

    def test_an_empty_workspace_renders_nothing(self) -> None:
        assert render(Workspace()) == ""
