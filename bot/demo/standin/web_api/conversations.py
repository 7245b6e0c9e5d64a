"""The ``conversations.*`` Web API methods: ``conversations.open`` (1:1 DMs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.demo.standin.core import ApiError, StandInCore


class ConversationsMethods(StandInCore):
    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel"):
            channel = self._resolve_channel(params["channel"])
            return {"ok": True, "channel": {"id": channel}}
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if not users:
            raise ApiError("users_list_not_supplied")
        if len(users) > 1:
            raise ApiError("not_supported", detail="the stand-in models 1:1 DMs only")
        already = users[0] in self._dms
        channel = self._open_dm(users[0])
        out: dict[str, Any] = {
            "ok": True,
            "channel": {"id": channel, "is_im": True, "user": users[0]},
        }
        if already:
            out.update(no_op=True, already_open=True)
        return out


METHODS: dict[str, Callable[[ConversationsMethods, dict[str, Any]], dict[str, Any]]] = {
    "conversations.open": ConversationsMethods._conversations_open,
}
