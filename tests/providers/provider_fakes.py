"""Test doubles for the provider tests: canned credentials, a fake API transport, a fake sleep."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

# Recognisable credentials: the leak tests look for them everywhere.
MN_TOKEN = "mn-SECRET-token-4f1d"  # noqa: S105 - a fake
UNLEASH_TOKEN = "*:*.unleash-SECRET-admin-9c2e"  # noqa: S105 - a fake
F5_TOKEN = "f5-SECRET-apitoken-77aa"  # noqa: S105 - a fake
TYK_ADMIN_SECRET = "tyk-SECRET-admin-5b3c"  # noqa: S105 - a fake
TYK_DASHBOARD_KEY = "tyk-SECRET-dashkey-8e6f"

SETTINGS: dict[str, dict[str, Any]] = {
    "mighty_networks": {"kind": "mighty_networks", "network_id": "acme", "token": MN_TOKEN},
    "unleash": {"kind": "unleash", "base_url": "https://unleash.test", "token": UNLEASH_TOKEN},
    "f5xc": {"kind": "f5xc", "base_url": "https://acme.console.test", "token": F5_TOKEN},
    "tyk": {
        "kind": "tyk",
        "base_url": "https://tyk.test",
        "admin_secret": TYK_ADMIN_SECRET,
        "dashboard_key": TYK_DASHBOARD_KEY,
    },
}
CREDENTIALS = (MN_TOKEN, UNLEASH_TOKEN, F5_TOKEN, TYK_ADMIN_SECRET, TYK_DASHBOARD_KEY)


def reply(
    status: int = 200,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    text: str | None = None,
) -> httpx.Response:
    """A canned response: JSON ``body``, raw ``text``, or no body at all."""
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


Route = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeApi:
    """An ``httpx.MockTransport`` that answers by (method, path) and records every request."""

    routes: dict[tuple[str, str], list[httpx.Response | Exception | Route]] = field(
        default_factory=dict
    )
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: httpx.Response | Exception | Route) -> None:
        """Answer ``method path`` with ``answers`` in turn; the last one repeats."""
        self.routes[(method, path)] = list(answers)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.routes.get((request.method, request.url.path))
        if not answers:
            return httpx.Response(
                599, text=f"no fake route for {request.method} {request.url.path}"
            )
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def sent(self, method: str | None = None, path: str | None = None) -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path is None or r.url.path == path)
        ]

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


@dataclass
class Sleeps:
    """An injectable sleep that records how long the client wanted to wait."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
