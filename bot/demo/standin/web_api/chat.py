"""The ``chat.*`` Web API methods: post, post ephemeral, update, delete, permalink."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.demo.standin.core import ApiError, Violation
from bot.demo.standin.messages import Messages
from bot.demo.standin.workspace import BOT_USER_ID


class ChatMethods(Messages):
    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        if not (params.get("text") or params.get("blocks") or params.get("attachments")):
            raise ApiError("no_text")
        self._check_blocks("chat.postMessage", params)
        thread_ts = params.get("thread_ts") or None
        if thread_ts and self._state.find(channel, str(thread_ts)) is None:
            # Slack would post it anyway, but a reply to nothing is always a bug in the bot.
            self._violations.append(
                Violation(
                    "chat.postMessage",
                    [f"thread_ts {thread_ts} is no message in {channel}"],
                    params,
                )
            )
        message = self._post(
            channel=channel,
            text=str(params.get("text") or ""),
            blocks=params.get("blocks"),
            thread_ts=thread_ts,
            via="chat.postMessage",
            metadata=params.get("metadata"),
        )
        return {"ok": True, "channel": channel, "ts": message.ts, "message": message.as_payload()}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        user = params.get("user")
        if not user:
            raise ApiError("user_not_found")
        if not (params.get("text") or params.get("blocks") or params.get("attachments")):
            raise ApiError("no_text")
        self._check_blocks("chat.postEphemeral", params)
        message = self._post(
            channel=channel,
            text=str(params.get("text") or ""),
            blocks=params.get("blocks"),
            thread_ts=params.get("thread_ts"),
            ephemeral_to=str(user),
            via="chat.postEphemeral",
        )
        return {"ok": True, "message_ts": message.ts}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        message = self._state.find(channel, str(params.get("ts") or ""))
        if message is None or message.deleted:
            raise ApiError("message_not_found")
        if message.user != BOT_USER_ID:
            raise ApiError("cant_update_message")
        self._check_blocks("chat.update", params)
        text = params.get("text")
        self._edit(message, None if text is None else str(text), params.get("blocks"))
        return {
            "ok": True,
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": message.as_payload(),
        }

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        message = self._state.find(channel, str(params.get("ts") or ""))
        if message is None or message.deleted:
            raise ApiError("message_not_found")
        message.deleted = True
        return {"ok": True, "channel": channel, "ts": message.ts}

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        ts = str(params.get("message_ts") or "")
        if self._state.find(channel, ts) is None:
            raise ApiError("message_not_found")
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"{self.url}/archives/{channel}/p{ts.replace('.', '')}",
        }


METHODS: dict[str, Callable[[ChatMethods, dict[str, Any]], dict[str, Any]]] = {
    "chat.postMessage": ChatMethods._chat_post_message,
    "chat.postEphemeral": ChatMethods._chat_post_ephemeral,
    "chat.update": ChatMethods._chat_update,
    "chat.delete": ChatMethods._chat_delete,
    "chat.getPermalink": ChatMethods._chat_get_permalink,
}
