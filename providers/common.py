"""What the four HTTP clients share: construction, action look-up and input checks."""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Mapping

import httpx

from providers.base import ActionSpec, BadInput, Provider, ProviderError, S
from providers.http import Call, HttpClient, Reply, RetryPolicy

_EMAIL = re.compile(r"^[^@\s<>()\[\]\\,;:\"]+@[^@\s<>()\[\]\\,;:\"]+\.[^@\s<>()\[\]\\,;:\".]{2,}$")
MAX_INPUT = 254  # the longest valid e-mail address


def clean_input(user: str) -> str:
    """What was typed, without surrounding blanks."""
    return user.strip()


def is_email(text: str) -> bool:
    return len(text) <= MAX_INPUT and _EMAIL.match(text) is not None


class HttpProvider(Provider[S]):
    """A provider reached over HTTP through one shared, pooled ``HttpClient``."""

    def __init__(
        self,
        *,
        name: str,
        settings: S,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(name=name, settings=settings, transport=transport)
        self.http = HttpClient(
            title=self.title,
            instance=name,
            base_url=self._base_url(),
            auth=self._auth(),
            timeout=settings.timeout_seconds,
            retry=retry or RetryPolicy(max_retries=settings.max_retries),
            transport=transport,
            classify=self._classify,
        )

    @abstractmethod
    def _base_url(self) -> str:
        """Where the API lives, from the settings."""

    @abstractmethod
    def _auth(self) -> Mapping[str, Mapping[str, str]]:
        """The headers of each credential, keyed by its settings key."""

    def _classify(self, call: Call, reply: Reply) -> ProviderError | None:
        """Name the vendor's particular error answers; None leaves the generic mapping."""
        return None

    @property
    def where(self) -> str:
        return f"provider '{self.name}'"

    def spec(self, action: str) -> ActionSpec:
        """The offered action called ``action``; ValueError names the ones there are."""
        for spec in self.actions:
            if spec.name == action:
                return spec
        offered = ", ".join(f"`{a.name}`" for a in self.actions)
        raise ValueError(f"{self.title} ({self.where}) offers {offered}, not `{action}`.")

    def _check_action(self, action: str) -> None:
        try:
            self.spec(action)
        except ValueError as exc:
            raise BadInput(str(exc)) from exc

    def _require_email(self, text: str, *, why: str) -> str:
        if not is_email(text):
            shown = text if len(text) <= 80 else text[:79] + "…"
            raise BadInput(f"'{shown}' is not an e-mail address: {why}")
        return text

    def close(self) -> None:
        self.http.close()
