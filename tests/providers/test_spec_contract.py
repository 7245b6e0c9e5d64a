"""Each request the clients send and each answer the sandboxes give, against the vendor's spec."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from bot.demo.sandboxes import Sandbox, start_sandbox
from providers.base import Account, ProviderError
from providers.http import RetryPolicy
from providers.registry import PROVIDER_KINDS, parse_settings
from tests.providers.spec_contract import ContractTransport

# Answers the real servers give that their descriptions leave out (see specs/README.md).
UNDOCUMENTED = {
    ("POST", "/api/admin/user-admin/reset-password", 429): "Unleash 8.x endpoint limit",
}


def f5_error_is_a_string(request: httpx.Request, response: httpx.Response) -> list[str]:
    """F5 declares every error body as a JSON string (``format: string``, no ``type``)."""
    if response.status_code < 400:
        return []
    try:
        body = json.loads(response.content)
    except ValueError:
        return [f"error body is not JSON: {response.content[:60]!r}"]
    return [] if isinstance(body, str) else [f"error body is {type(body).__name__}, not a string"]


@pytest.fixture
def contract() -> Iterator[Callable[[str], tuple[Sandbox, Any, ContractTransport]]]:
    started: list[tuple[Sandbox, Any]] = []

    def make(kind: str) -> tuple[Sandbox, Any, ContractTransport]:
        sb = start_sandbox(kind)
        transport = ContractTransport(kind, f5_error_is_a_string if kind == "f5xc" else None)
        cls: Any = PROVIDER_KINDS[kind]
        provider = cls(
            name="contract",
            settings=parse_settings(sb.settings_dict()),
            transport=transport,
            retry=RetryPolicy(max_retries=0),
        )
        started.append((sb, provider))
        return sb, provider, transport

    yield make
    for sb, provider in started:
        provider.close()
        sb.stop()


def attempt(call: Callable[[], object]) -> None:
    try:
        call()
    except ProviderError:
        pass  # the answer is what is checked, not the outcome


@pytest.mark.parametrize("kind", ["tyk", "unleash", "mighty_networks", "f5xc"])
def test_every_call_and_answer_is_in_the_vendors_description(
    kind: str, contract: Callable[[str], tuple[Sandbox, Any, ContractTransport]]
) -> None:
    """Look-ups, every action, the credential check, and the documented refusals."""
    sb, provider, transport = contract(kind)
    ident = sb.add_user(email="ann@example.com", name="Ann Lee")
    sb.add_user(email="boss@example.com", name="Bo Boss", admin=True)
    account = provider.resolve("ann@example.com")
    provider.resolve("boss@example.com")
    if kind in ("tyk", "mighty_networks"):
        provider.resolve(ident)
    for spec in provider.actions:
        provider.perform(spec.name, account)
    assert provider.check_credentials().ok
    attempt(lambda: provider.resolve("nobody@example.com"))
    if kind in ("tyk", "mighty_networks"):
        attempt(lambda: provider.resolve("999999"))
    attempt(lambda: provider.perform(provider.default_action, Account("nobody@example.com")))
    if kind == "unleash":
        for _ in range(21):  # into the endpoint limit
            attempt(lambda: provider.perform("reset", Account("x@example.com", "x@example.com")))
    assert len(transport.exchanges) >= 6
    assert transport.violations(UNDOCUMENTED) == []


def test_an_answer_outside_the_description_is_caught(
    contract: Callable[[str], tuple[Sandbox, Any, ContractTransport]],
) -> None:
    """The check bites: a member without the required fields is reported."""
    sb, provider, transport = contract("mighty_networks")
    sb.add_user(email="ann@example.com", name="Ann Lee")
    sb.inject("lookup", status=200, body={"id": 7, "email": "ann@example.com"})
    provider.resolve("ann@example.com")
    (problem,) = transport.violations()
    assert "permalink" in problem
