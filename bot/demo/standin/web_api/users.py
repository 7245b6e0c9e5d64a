"""The ``users.*`` Web API methods: ``users.info``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.demo.standin.core import ApiError, StandInCore


class UsersMethods(StandInCore):
    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._state.users.get(str(params.get("user") or ""))
        if user is None:
            raise ApiError("user_not_found")
        return {"ok": True, "user": user.as_payload()}


METHODS: dict[str, Callable[[UsersMethods, dict[str, Any]], dict[str, Any]]] = {
    "users.info": UsersMethods._users_info,
}
