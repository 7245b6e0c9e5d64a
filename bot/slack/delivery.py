"""When an HTTP ack has been written: so a worker's answer never overtakes its own ack."""

from __future__ import annotations

import threading

# The HTTP layer (bot.server) marks each request's thread with an event that is set once the
# response -- the ack -- has been written.
ACK_WAIT = 5.0  # longest an answer waits for its ack to be written (Slack's deadline is 3 s)
_delivery = threading.local()


def begin_delivery() -> threading.Event:
    """Called by the HTTP layer on the request's thread before Bolt dispatches it."""
    sent = threading.Event()
    _delivery.sent = sent
    return sent


def end_delivery() -> None:
    _delivery.sent = None


def ack_sent() -> threading.Event | None:
    """For a listener: the event set once its ack has been written; None where there is none
    (Socket Mode). Listeners run on the request's thread (``process_before_response``), so
    they read it here rather than through a Bolt middleware, which cost each request more than
    the listener itself."""
    return getattr(_delivery, "sent", None)
