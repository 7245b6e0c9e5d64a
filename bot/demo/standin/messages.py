"""Messages in the stand-in: Block Kit checks, posting, editing, and response_url answers."""

from __future__ import annotations

import copy
from typing import Any

from bot.demo.standin import blockkit
from bot.demo.standin.core import ApiError, StandInCore, Violation
from bot.demo.standin.workspace import BOT_ID, BOT_USER_ID, Message, Version


class Messages(StandInCore):
    """How the stand-in's messages change (lock held)."""

    def _check_blocks(self, method: str, params: dict[str, Any]) -> None:
        problems = blockkit.check_message(params.get("text"), params.get("blocks"))
        if problems:
            self._violations.append(Violation(method, problems, params))
            if any("text is longer" in p for p in problems):
                raise ApiError("msg_too_long")
            raise ApiError("invalid_blocks", response_metadata={"messages": problems})

    def _post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        thread_ts: str | None = None,
        ephemeral_to: str | None = None,
        via: str,
        metadata: dict[str, Any] | None = None,
        ts: str | None = None,
    ) -> Message:
        message = Message(
            channel=channel,
            ts=ts or self._next_ts(),
            user=BOT_USER_ID,
            text=text,
            blocks=self._ids.fill(copy.deepcopy(blocks or [])),
            thread_ts=thread_ts or None,
            bot_id=BOT_ID,
            ephemeral_to=ephemeral_to,
            via=via,
            metadata=metadata,
        )
        self._state.messages.append(message)
        return message

    def _edit(
        self, message: Message, text: str | None, blocks: list[dict[str, Any]] | None
    ) -> None:
        message.history.append(
            Version(text=message.text, blocks=message.blocks, edited_at=self._next_ts())
        )
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = self._ids.fill(copy.deepcopy(blocks))

    def _respond(self, token: str, payload: dict[str, Any], *, via: str) -> None:
        target = self._responses.get(token)
        if target is None:
            return
        target.uses += 1
        original = target.original
        text = payload.get("text")
        blocks = payload.get("blocks")
        if payload.get("delete_original") and original is not None:
            original.deleted = True
            return
        if _truthy(payload.get("replace_original")) and original is not None:
            self._edit(original, str(text or ""), blocks if blocks is not None else [])
            return
        in_channel = payload.get("response_type") == "in_channel"
        message = self._post(
            channel=target.channel,
            text=str(text or ""),
            blocks=blocks,
            thread_ts=payload.get("thread_ts"),
            ephemeral_to=None if in_channel else target.user_id,
            via=via,
            ts=target.ack_ts if via == "ack" else None,
        )
        if original is None:
            target.original = message


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))
