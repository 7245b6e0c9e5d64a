"""The ``auth.*`` Web API methods: ``auth.test``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.demo.standin.core import StandInCore
from bot.demo.standin.workspace import BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID


class AuthMethods(StandInCore):
    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Stand-in",
            "user": self.bot_name,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }


METHODS: dict[str, Callable[[AuthMethods, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": AuthMethods._auth_test,
}
