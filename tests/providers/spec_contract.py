"""Checks each HTTP exchange between a client and a sandbox against the vendor's API description."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.request.validators import (
    V30RequestBodyValidator,
    V30RequestParametersValidator,
    V31RequestBodyValidator,
    V31RequestParametersValidator,
)
from openapi_core.validation.response.validators import (
    V30ResponseDataValidator,
    V31ResponseDataValidator,
)
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPECS = Path(__file__).parent / "specs"
HOST = "http://sandbox"

# Which description covers a request: (kind, path prefix) -> file. The first match wins.
_FILES: tuple[tuple[str, str, str], ...] = (
    ("tyk", "/admin/", "tyk-dashboard-admin-swagger.yml"),
    ("tyk", "/api/", "tyk-dashboard-swagger.yml"),
    ("mighty_networks", "/", "mighty-networks-admin-v1-excerpt.json"),
    ("f5xc", "/", "f5xc-ves.io.schema.user.json"),
    ("unleash", "/", "unleash-8.2.0-openapi.json"),
)


@cache
def load(name: str) -> OpenAPI:
    """The description in ``specs/name``, served from ``HOST`` (its own servers are hosted)."""
    text = (SPECS / name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
    data["servers"] = [{"url": HOST}]
    return OpenAPI.from_dict(data, config=Config(spec_validator_cls=None))


def spec_file(kind: str, path: str) -> str:
    for k, prefix, name in _FILES:
        if k == kind and path.startswith(prefix):
            return name
    raise LookupError(f"no API description for {kind} {path}")


@dataclass
class _Request:
    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    content_type: str
    body: bytes | None


@dataclass(frozen=True)
class _Response:
    status_code: int
    content_type: str
    headers: Headers
    data: bytes | None


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    status: int
    request_errors: tuple[str, ...]
    response_errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.request_errors and not self.response_errors

    def __str__(self) -> str:
        problems = "; ".join((*self.request_errors, *self.response_errors))
        return f"{self.method} {self.path} -> {self.status}: {problems or 'ok'}"


def _errors(validators: Iterable[Any], message: Any) -> tuple[str, ...]:
    found: list[str] = []
    for validator in validators:
        for error in validator.iter_errors(message):
            cause = error.__cause__
            detail = f" ({cause})" if cause else ""
            found.append(f"{type(error).__name__}: {error}{detail}"[:600])
    return tuple(found)


def check(kind: str, request: httpx.Request, response: httpx.Response) -> Exchange:
    """Validate one exchange: request parameters and body, response status and body.

    Authentication is not validated here: the descriptions' security schemes do not match what
    the vendors take (Tyk's bare key in ``Authorization``); the sandboxes' own tests cover it.
    """
    path = request.url.path
    openapi = load(spec_file(kind, path))
    v31 = str(openapi.spec["openapi"]).startswith("3.1")
    request_validators = (
        (V31RequestParametersValidator, V31RequestBodyValidator)
        if v31
        else (V30RequestParametersValidator, V30RequestBodyValidator)
    )
    response_validator = V31ResponseDataValidator if v31 else V30ResponseDataValidator
    query = ImmutableMultiDict(list(request.url.params.multi_items()))
    req = _Request(
        host_url=HOST,
        path=path,
        method=request.method.lower(),
        parameters=RequestParameters(query=query, header=Headers(list(request.headers.items()))),
        content_type=request.headers.get("content-type", "").lower(),
        body=request.content or None,
    )
    resp = _Response(
        status_code=response.status_code,
        content_type=response.headers.get("content-type", "").lower(),
        headers=Headers(list(response.headers.items())),
        data=response.content or None,
    )
    request_errors = _errors((cls(openapi.spec) for cls in request_validators), req)
    response_errors = tuple(
        f"{type(e).__name__}: {e}"[:600]
        for e in response_validator(openapi.spec).iter_errors(req, resp)
    )
    return Exchange(request.method, path, response.status_code, request_errors, response_errors)


@dataclass
class ContractTransport(httpx.BaseTransport):
    """A real HTTP transport that checks every exchange it carries against the description."""

    kind: str
    also_check: Callable[[httpx.Request, httpx.Response], Iterable[str]] | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    inner: httpx.HTTPTransport = field(default_factory=httpx.HTTPTransport)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        exchange = check(self.kind, request, response)
        if self.also_check is not None:
            more = tuple(self.also_check(request, response))
            if more:
                exchange = Exchange(
                    exchange.method,
                    exchange.path,
                    exchange.status,
                    exchange.request_errors,
                    (*exchange.response_errors, *more),
                )
        self.exchanges.append(exchange)
        return response

    def close(self) -> None:
        self.inner.close()

    def violations(self, allowed: Mapping[tuple[str, str, int], str] | None = None) -> list[str]:
        """Every exchange outside the description, except (method, path, status) ``allowed``."""
        allowed = allowed or {}
        return [
            str(e)
            for e in self.exchanges
            if not e.ok and (e.method, e.path, e.status) not in allowed
        ]
