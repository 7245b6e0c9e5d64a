"""Acknowledgements first: background work gives way while Slack is waiting for an answer.

Slack's 3 seconds to acknowledge are a hard deadline (past it the person sees an error and the
command is lost); the look-up, the approval message and the outcome that follow are not. In one
process the two share a GIL, so during a burst every background task that runs takes turns with
the acknowledgements and stretches them. So a background task starts only once no request has
been answered for a moment (``quiet``), or, when requests keep coming, after waiting at most
``patience``, and then only while fewer than ``under_load`` such tasks run: under a sustained
burst the acknowledgements stay fast and the follow-ups still progress, a few at a time; when it
passes, the backlog drains at full speed.

Tasks already running are never paused; provider calls waiting on the network hold no GIL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class AckFirst:
    def __init__(self, *, quiet: float = 0.005, patience: float = 0.5, under_load: int = 2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet = quiet
        self.patience = patience
        self.under_load = under_load
        self._clock = clock
        self._cond = threading.Condition()
        self._door = threading.Lock()
        self._acking = 0
        self._last_ack = float("-inf")
        self._forced = 0

    @property
    def in_flight(self) -> int:
        """Requests being handled now."""
        with self._cond:
            return self._acking

    def request_started(self) -> None:
        """A request from Slack is being handled (the HTTP layer, before Bolt sees it)."""
        with self._cond:
            self._acking += 1

    def request_answered(self) -> None:
        """Its response has been written (or it failed): once per ``request_started``."""
        with self._cond:
            self._acking -= 1
            self._last_ack = self._clock()

    def begin(self) -> bool:
        """Called by a background task before it starts; True if it was let in under load
        (then call ``end(True)`` when it is done)."""
        deadline = self._clock() + self.patience
        # One task at a time waits for its turn and polls; the others queue on the door, so a
        # backlog costs no wake-ups.
        with self._door, self._cond:
            while True:
                now = self._clock()
                if not self._acking and now - self._last_ack >= self.quiet:
                    return False
                if now >= deadline and self._forced < self.under_load:
                    self._forced += 1
                    return True
                self._cond.wait(self.quiet)

    def end(self, forced: bool) -> None:
        if forced:
            with self._cond:
                self._forced -= 1
