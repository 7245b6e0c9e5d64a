"""The domain's Teams over Slack: user groups and their members, cached for a minute."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain.ports import GroupCheckFailed
from bot.slack.notifier import slack_error

CACHE_SECONDS = 60.0  # someone removed from a group loses the right within this


class SlackTeams:
    def __init__(
        self,
        client: WebClient,
        *,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Any]] = {}

    def _cached(self, key: str, fetch: Callable[[], Any]) -> Any:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
        try:
            value = fetch()
        except SlackApiError as exc:
            raise GroupCheckFailed(slack_error(exc)) from exc
        except (SlackClientError, OSError) as exc:
            raise GroupCheckFailed(type(exc).__name__) from exc
        with self._lock:
            self._cache[key] = (now, value)
        return value

    def members(self, group_id: str) -> frozenset[str]:
        def fetch() -> frozenset[str]:
            response = self.client.usergroups_users_list(usergroup=group_id)
            return frozenset(str(u) for u in response.get("users") or [])

        result: frozenset[str] = self._cached(f"members:{group_id}", fetch)
        return result

    def _groups(self) -> dict[str, str]:
        """Every group's id → handle."""

        def fetch() -> dict[str, str]:
            response = self.client.usergroups_list()
            return {
                str(g.get("id")): str(g.get("handle") or "")
                for g in response.get("usergroups") or []
                if isinstance(g, dict)
            }

        result: dict[str, str] = self._cached("groups", fetch)
        return result

    def find(self, handle: str) -> str | None:
        wanted = handle.lstrip("@").casefold()
        for group_id, name in self._groups().items():
            if name.casefold() == wanted:
                return group_id
        return None

    def handle(self, group_id: str) -> str | None:
        name = self._groups().get(group_id)
        return f"@{name}" if name else None
