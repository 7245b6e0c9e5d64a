"""A local Slack for tests, the demo and benchmarks: Web API stand-in, driver, transcript."""

from __future__ import annotations

from bot.demo.standin.core import Violation
from bot.demo.standin.driver import (
    STALE,
    UNSIGNED,
    WRONG_SIGNATURE,
    Delivery,
    SlackDriver,
    SocketModeDriver,
    ack_body,
    retried,
)
from bot.demo.standin.server import SlackStandIn
from bot.demo.standin.transcript import render
from bot.demo.standin.workspace import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    Call,
    Message,
    ModalView,
    User,
    Workspace,
)

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "STALE",
    "TEAM_ID",
    "UNSIGNED",
    "WRONG_SIGNATURE",
    "Call",
    "Delivery",
    "Message",
    "ModalView",
    "SlackDriver",
    "SlackStandIn",
    "SocketModeDriver",
    "User",
    "Violation",
    "Workspace",
    "ack_body",
    "render",
    "retried",
]
