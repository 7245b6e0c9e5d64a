"""Work a listener hands on is started only once its ack has been written.

So a follow-up (the answer that replaces "Looking up…", the modal's next page) can never reach
Slack before the ack it replaces, and no background work competes with an ack still being
written. The transport (``bot.server``: HTTP and Socket Mode) opens a delivery on the request's
thread before Bolt dispatches it, and releases what was deferred once the response is out.
Listeners run on that thread (``process_before_response``), so they find it here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from bot.background import Start

_current = threading.local()


class Delivery:
    def __init__(self) -> None:
        self._after: list[Callable[[], None]] = []
        self._released = False
        self._dropped = False
        self._lock = threading.Lock()

    def defer(self, start: Callable[[], None]) -> None:
        with self._lock:
            if self._dropped:
                return
            if not self._released:
                self._after.append(start)
                return
        start()

    def drop(self) -> None:
        """A replay: nothing deferred is started, now or later; an accepted job is cancelled."""
        with self._lock:
            self._released = self._dropped = True
            after, self._after = self._after, []
        for start in after:
            if isinstance(start, Start):
                start.cancel()

    def release(self) -> None:
        """The ack is out: start everything deferred, in order (idempotent)."""
        with self._lock:
            if self._released:
                return
            self._released = True
            after, self._after = self._after, []
        for start in after:
            start()


def begin_delivery() -> Delivery:
    """Called by the transport on the request's thread before Bolt dispatches it."""
    delivery = Delivery()
    _current.delivery = delivery
    return delivery


def end_delivery() -> None:
    _current.delivery = None


def after_ack(start: Callable[[], None]) -> None:
    """Run ``start`` once the current request's ack has been written; at once outside one."""
    delivery: Delivery | None = getattr(_current, "delivery", None)
    if delivery is None:
        start()
    else:
        delivery.defer(start)
