"""When an HTTP ack has been written: so a worker's answer never overtakes its own ack."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltRequest, BoltResponse

# The HTTP layer (bot.server) marks each request's thread with an event that is set once the
# response -- the ack -- has been written; a middleware hands it to the listener's context.
ACK_SENT = "resetbot_ack_sent"
ACK_WAIT = 5.0  # longest an answer waits for its ack to be written (Slack's deadline is 3 s)
_delivery = threading.local()


def begin_delivery() -> threading.Event:
    """Called by the HTTP layer on the request's thread before Bolt dispatches it."""
    sent = threading.Event()
    _delivery.sent = sent
    return sent


def end_delivery() -> None:
    _delivery.sent = None


def mark_delivery(req: BoltRequest, resp: BoltResponse, next: Callable[[], Any]) -> Any:
    # Bolt runs middleware on the request's thread, listeners on its executor.
    req.context[ACK_SENT] = getattr(_delivery, "sent", None)
    return next()
