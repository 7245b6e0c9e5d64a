"""What the Slack stand-in remembers: calls, channels, messages, ephemerals, DMs, modals, users."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0RESETBOT"
TEAM_ID = "T0STANDIN"
TEAM_DOMAIN = "standin"


@dataclass
class Call:
    """One request the stand-in answered: a Web API method, a response_url post, an ack."""

    method: str
    params: dict[str, Any]
    time: float
    status: int = 200
    response: Any = None
    injected: bool = False

    @property
    def ok(self) -> bool:
        return (
            self.status == 200 and isinstance(self.response, dict) and bool(self.response.get("ok"))
        )

    @property
    def error(self) -> str | None:
        if isinstance(self.response, dict) and not self.response.get("ok"):
            return str(self.response.get("error"))
        return None if self.status == 200 else f"http_{self.status}"


@dataclass
class Version:
    """The content a message had before an edit."""

    text: str
    blocks: list[dict[str, Any]]
    edited_at: str


@dataclass
class Message:
    """A message as a person sees it; ``ephemeral_to`` is set for "only visible to you" ones."""

    channel: str
    ts: str
    user: str
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    bot_id: str | None = None
    ephemeral_to: str | None = None
    via: str = "chat.postMessage"
    metadata: dict[str, Any] | None = None
    history: list[Version] = field(default_factory=list)
    deleted: bool = False

    @property
    def is_ephemeral(self) -> bool:
        return self.ephemeral_to is not None

    @property
    def edited(self) -> bool:
        return bool(self.history)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def elements(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Interactive elements as (block_id, element): actions blocks and section accessories."""
        for block in self.blocks:
            block_id = str(block.get("block_id", ""))
            if block.get("type") == "actions":
                for element in block.get("elements") or []:
                    if isinstance(element, dict):
                        yield block_id, element
            accessory = block.get("accessory")
            if isinstance(accessory, dict) and "action_id" in accessory:
                yield block_id, accessory

    def buttons(self) -> list[dict[str, Any]]:
        return [e for _, e in self.elements() if e.get("type") == "button"]

    def action_ids(self) -> list[str]:
        return [str(e.get("action_id")) for _, e in self.elements()]

    def all_text(self) -> str:
        """The text plus every piece of text in the blocks, for searching."""
        parts = [self.text]
        _collect_text(self.blocks, parts)
        return "\n".join(p for p in parts if p)

    def as_payload(self) -> dict[str, Any]:
        """The message object as Slack puts it in payloads and API answers."""
        out: dict[str, Any] = {
            "type": "message",
            "ts": self.ts,
            "text": self.text,
            "user": self.user,
            "team": TEAM_ID,
        }
        if self.bot_id:
            out["bot_id"] = self.bot_id
            out["app_id"] = APP_ID
        if self.blocks:
            out["blocks"] = copy.deepcopy(self.blocks)
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.metadata:
            out["metadata"] = copy.deepcopy(self.metadata)
        if self.history:
            out["edited"] = {"user": self.user, "ts": self.history[-1].edited_at}
        return out


def _collect_text(node: Any, out: list[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn", "text") and isinstance(
            node.get("text"), str
        ):
            out.append(node["text"])
        for key, value in node.items():
            if key != "text" or not isinstance(value, str):
                _collect_text(value, out)
    elif isinstance(node, list):
        for item in node:
            _collect_text(item, out)


@dataclass
class ModalView:
    """A modal a user has (or had) open; ``versions`` are the full view objects Slack returned."""

    id: str
    user_id: str
    trigger_id: str | None
    versions: list[dict[str, Any]] = field(default_factory=list)
    open: bool = True
    closed_by: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    previous_view_id: str | None = None
    awaiting_ack: bool = False  # submitted; Slack has not had the app's answer yet

    @property
    def current(self) -> dict[str, Any]:
        return self.versions[-1]

    @property
    def callback_id(self) -> str:
        return str(self.current.get("callback_id", ""))

    @property
    def external_id(self) -> str:
        return str(self.current.get("external_id", ""))

    @property
    def hash(self) -> str:
        return str(self.current.get("hash", ""))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return list(self.current.get("blocks") or [])

    @property
    def title(self) -> str:
        title = self.current.get("title") or {}
        return str(title.get("text", "")) if isinstance(title, dict) else str(title)

    def all_text(self) -> str:
        parts: list[str] = []
        _collect_text(self.current.get("blocks") or [], parts)
        return "\n".join(parts)


@dataclass
class User:
    id: str
    name: str
    real_name: str | None = None
    tz: str = "UTC"
    is_bot: bool = False
    email: str | None = None

    @property
    def display(self) -> str:
        return self.real_name or self.name

    def as_payload(self) -> dict[str, Any]:
        """The user object of ``users.info``."""
        real = self.real_name or self.name
        profile: dict[str, Any] = {
            "real_name": real,
            "display_name": self.name,
            "real_name_normalized": real,
            "display_name_normalized": self.name,
            "team": TEAM_ID,
        }
        if self.email:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "deleted": False,
            "real_name": real,
            "tz": self.tz,
            "tz_label": self.tz,
            "tz_offset": 0,
            "is_bot": self.is_bot,
            "is_admin": False,
            "is_owner": False,
            "is_app_user": False,
            "profile": profile,
        }


@dataclass
class Channel:
    id: str
    name: str
    members: set[str] | None = None
    bot_member: bool = True
    dm_user: str | None = None

    @property
    def is_im(self) -> bool:
        return self.dm_user is not None


@dataclass
class Command:
    """A slash command a user typed: Slack shows nobody else, but a transcript reader wants it."""

    channel: str
    user: str
    command: str
    text: str
    ts: str


@dataclass
class Workspace:
    """Everything the stand-in holds; ``transcript.render`` reads only this."""

    users: dict[str, User] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    views: dict[str, ModalView] = field(default_factory=dict)

    def channel_name(self, channel_id: str) -> str:
        channel = self.channels.get(channel_id)
        return channel.name if channel else channel_id

    def user_name(self, user_id: str) -> str:
        user = self.users.get(user_id)
        return user.name if user else user_id

    def display_name(self, user_id: str) -> str:
        user = self.users.get(user_id)
        return user.display if user else user_id

    def find(self, channel: str, ts: str) -> Message | None:
        for message in reversed(self.messages):
            if message.channel == channel and message.ts == ts and not message.is_ephemeral:
                return message
        return None
