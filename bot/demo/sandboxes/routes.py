"""What a sandbox kind writes its API with: requests, responses, routes, recorded calls."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One request as the sandbox saw it; secrets in the query or body are redacted."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    step: str  # "lookup", "action", "check", "validate" (Unleash) or "other"
    status: int | None  # None when a fault sent no answer


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str]  # named groups of the route's path pattern

    @property
    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: Any = None  # JSON-able, raw bytes, or None for no body
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    step: str
    handler: Handler


def json_error(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, body, dict(headers or {}))
