"""The Web API methods the stand-in answers, one module per method family (lock held)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.demo.standin.web_api import apps, auth, chat, conversations, usergroups, users, views
from bot.demo.standin.web_api.apps import AppsMethods
from bot.demo.standin.web_api.auth import AuthMethods
from bot.demo.standin.web_api.chat import ChatMethods
from bot.demo.standin.web_api.conversations import ConversationsMethods
from bot.demo.standin.web_api.usergroups import UsergroupsMethods
from bot.demo.standin.web_api.users import UsersMethods
from bot.demo.standin.web_api.views import ViewsMethods


class WebApi(
    AuthMethods,
    ChatMethods,
    ViewsMethods,
    ConversationsMethods,
    UsersMethods,
    UsergroupsMethods,
    AppsMethods,
):
    """Every method family; ``METHODS`` maps a method name to its handler."""


METHODS: dict[str, Callable[[WebApi, dict[str, Any]], dict[str, Any]]] = {
    **auth.METHODS,
    **chat.METHODS,
    **views.METHODS,
    **conversations.METHODS,
    **users.METHODS,
    **usergroups.METHODS,
    **apps.METHODS,
}
