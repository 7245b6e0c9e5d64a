"""What tests read from the stand-in: calls, messages and views, and waits that need no sleep."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from bot.demo.standin.core import StandInCore, Violation
from bot.demo.standin.workspace import Call, Message, ModalView, Workspace

T = TypeVar("T")
RECENT_CALLS_SHOWN = 15


class Reading(StandInCore):
    """Copies and lookups under the lock, and waits that wake on every change."""

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    @property
    def violations(self) -> list[Violation]:
        with self._lock:
            return list(self._violations)

    def calls_to(self, method: str, **params: Any) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if _matches(c, method, params)]

    def mark(self) -> int:
        """A position in ``calls``: pass it as ``since=`` to wait only for later calls."""
        with self._lock:
            return len(self._calls)

    def snapshot(self) -> Workspace:
        with self._lock:
            return copy.deepcopy(self._state)

    def transcript(self, **options: Any) -> str:
        from bot.demo.standin.transcript import render

        return render(self.snapshot(), **options)

    def messages(
        self, channel: str | None = None, *, ephemeral: bool = False, deleted: bool = False
    ) -> list[Message]:
        """Messages in posting order (thread replies included); ephemerals only if asked."""
        with self._lock:
            return [
                m
                for m in self._state.messages
                if (channel is None or m.channel == channel)
                and (ephemeral or not m.is_ephemeral)
                and (deleted or not m.deleted)
            ]

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[Message]:
        with self._lock:
            return [
                m
                for m in self._state.messages
                if m.is_ephemeral
                and not m.deleted
                and (channel is None or m.channel == channel)
                and (user is None or m.ephemeral_to == user)
            ]

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The replies under the message ``ts``."""
        return [m for m in self.messages(channel) if m.thread_ts == ts and m.ts != ts]

    def dm_channel(self, user_id: str) -> str:
        """The stable ``D…`` id of the bot's DM with a user (as conversations.open answers)."""
        with self._lock:
            return self._open_dm(user_id)

    def dms(self, user_id: str) -> list[Message]:
        with self._lock:
            channel = self._dms.get(user_id)
        return self.messages(channel) if channel else []

    def message(self, channel: str, ts: str) -> Message | None:
        with self._lock:
            return self._state.find(channel, ts)

    def latest_message(
        self,
        channel: str | None = None,
        *,
        containing: str | None = None,
        with_buttons: bool = False,
        ephemeral_to: str | None = None,
        top_level: bool = False,
    ) -> Message | None:
        with self._lock:
            for m in reversed(self._state.messages):
                if m.deleted or (channel is not None and m.channel != channel):
                    continue
                if (ephemeral_to or None) != m.ephemeral_to:
                    continue
                if top_level and m.is_reply:
                    continue
                if with_buttons and not m.buttons():
                    continue
                if containing is not None and containing not in m.all_text():
                    continue
                return m
        return None

    def view(self, view_id: str) -> ModalView | None:
        with self._lock:
            return self._state.views.get(view_id)

    def views_for(self, user_id: str, *, open_only: bool = False) -> list[ModalView]:
        with self._lock:
            return [
                v
                for v in self._state.views.values()
                if v.user_id == user_id and (v.open or not open_only)
            ]

    def view_for_trigger(self, trigger_id: str) -> ModalView | None:
        with self._lock:
            for v in self._state.views.values():
                if v.trigger_id == trigger_id:
                    return v
        return None

    def wait_for(
        self,
        match: str | Callable[[Call], bool],
        timeout: float = 5.0,
        *,
        count: int = 1,
        since: int = 0,
        **params: Any,
    ) -> Call:
        """The ``count``-th call (from index ``since``) of a method or matching a predicate.

        ``params`` must be equal in the call's parameters (``wait_for("chat.update", ts=ts)``).
        """

        def found() -> Call | None:
            hits = [
                c
                for c in self._calls[since:]
                if (match(c) if callable(match) else _matches(c, match, params))
            ]
            return hits[count - 1] if len(hits) >= count else None

        what = f"to {match}" if isinstance(match, str) else "matching the predicate"
        where = f" with {params}" if params else ""
        nth = f" #{count}" if count > 1 else ""
        return self.wait_until(found, timeout, what=f"call{nth} {what}{where}")

    def wait_until(
        self, condition: Callable[[], T | None], timeout: float = 5.0, *, what: str = "condition"
    ) -> T:
        """Re-check ``condition`` (under the lock) on every change until it is truthy."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = condition()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout}s waiting for {what}; recent calls:\n"
                        + self._describe_recent()
                    )
                self._changed.wait(remaining)

    def wait_for_message(
        self,
        channel: str | None = None,
        *,
        containing: str | None = None,
        with_buttons: bool = False,
        ephemeral_to: str | None = None,
        timeout: float = 5.0,
    ) -> Message:
        return self.wait_until(
            lambda: self.latest_message(
                channel, containing=containing, with_buttons=with_buttons, ephemeral_to=ephemeral_to
            ),
            timeout,
            what=f"a message in {channel or 'any channel'} containing {containing!r}",
        )

    def _describe_recent(self) -> str:
        lines = []
        for c in self._calls[-RECENT_CALLS_SHOWN:]:
            outcome = "ok" if c.ok else (c.error or f"http_{c.status}")
            brief = " ".join(f"{k}={_short(v)}" for k, v in c.params.items())
            lines.append(f"  {c.method} {brief} -> {outcome}".replace("  -> ", " -> "))
        return "\n".join(lines) or "  (none)"


def _matches(call: Call, method: str, params: Mapping[str, Any]) -> bool:
    return call.method == method and all(call.params.get(k) == v for k, v in params.items())


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
