"""Fault injection: the rate limits, errors and 5xx pages a test switches on for a method."""

from __future__ import annotations

from collections import deque
from http import HTTPStatus

from bot.demo.standin.core import Failure, Reply, StandInCore

__all__ = ["Failure", "Faults"]


class Faults(StandInCore):
    """``fail_next``, and the injected answer a call gets instead of the method's."""

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        *,
        status: int | None = None,
        retry_after: int | None = 1,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``error`` (or a plain 5xx).

        ``ratelimited`` defaults to HTTP 429 with ``Retry-After`` like Slack; ``status=503``
        gives a plain-text server error; anything else is a 200 with ``ok: false``.
        ``method`` may also be ``"response_url"``.
        """
        if status is None:
            status = 429 if error == "ratelimited" else 200
        with self._lock:
            self._failures.setdefault(method, deque()).append(
                Failure(error=error, status=status, retry_after=retry_after, times=times)
            )

    def _pop_failure(self, method: str) -> Reply | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.popleft()
        if failure.status >= 500:
            # Slack's load balancers answer with a plain page, not JSON.
            return Reply(failure.status, f"{failure.status} {HTTPStatus(failure.status).phrase}")
        headers = {}
        if failure.status == 429 and failure.retry_after is not None:
            headers["Retry-After"] = str(failure.retry_after)
        return Reply(failure.status, {"ok": False, "error": failure.error}, headers)
