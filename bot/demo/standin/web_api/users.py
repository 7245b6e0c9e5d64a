"""The ``users.*`` Web API methods: ``users.info`` and ``users.lookupByEmail``."""

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

    def _users_lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email") or "").strip().casefold()
        if not email:
            raise ApiError("invalid_arguments")
        for user in self._state.users.values():
            if user.email and user.email.casefold() == email:
                return {"ok": True, "user": user.as_payload()}
        raise ApiError("users_not_found")


METHODS: dict[str, Callable[[UsersMethods, dict[str, Any]], dict[str, Any]]] = {
    "users.info": UsersMethods._users_info,
    "users.lookupByEmail": UsersMethods._users_lookup_by_email,
}
