"""Fixtures for the provider tests: mock transports, fast retries, and sandbox servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from bot.demo.sandboxes import Sandbox, start_sandbox
from providers.base import Provider
from providers.http import RetryPolicy
from providers.registry import PROVIDER_KINDS, parse_settings
from tests.providers.provider_fakes import SETTINGS, FakeApi, Sleeps


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_provider(sleeps: Sleeps) -> Iterator[Callable[..., Provider[Any]]]:
    """Build a provider of a kind over a transport, with instant retries; closed afterwards."""
    built: list[Provider[Any]] = []

    def make(
        kind: str,
        transport: httpx.BaseTransport,
        *,
        name: str | None = None,
        retries: int = 2,
        **overrides: Any,
    ) -> Provider[Any]:
        settings = parse_settings({**SETTINGS[kind], **overrides})
        cls: Any = PROVIDER_KINDS[kind]
        provider: Provider[Any] = cls(
            name=name or default_name(kind),
            settings=settings,
            transport=transport,
            retry=RetryPolicy(max_retries=retries, base_delay=0.01, sleep=sleeps),
        )
        built.append(provider)
        return provider

    yield make
    for provider in built:
        provider.close()


def default_name(kind: str) -> str:
    return {"mighty_networks": "community", "unleash": "flags", "f5xc": "edge", "tyk": "gateway"}[
        kind
    ]


@pytest.fixture
def sandboxes() -> Iterator[Callable[[str], Sandbox]]:
    """Start sandboxes by kind; every one is stopped at the end of the test."""
    started: list[Sandbox] = []

    def start(kind: str) -> Sandbox:
        sb = start_sandbox(kind)
        started.append(sb)
        return sb

    yield start
    for sb in started:
        sb.stop()


@pytest.fixture
def connect(sleeps: Sleeps) -> Iterator[Callable[..., Provider[Any]]]:
    """A real-HTTP client for a sandbox: short timeout, instant retries; closed afterwards."""
    built: list[Provider[Any]] = []

    def make(
        sb: Sandbox,
        *,
        retries: int = 2,
        timeout: float = 2.0,
        settings: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> Provider[Any]:
        data = {**(settings or sb.settings_dict()), "timeout_seconds": timeout, **overrides}
        cls: Any = PROVIDER_KINDS[sb.kind]
        provider: Provider[Any] = cls(
            name=default_name(sb.kind),
            settings=parse_settings(data),
            retry=RetryPolicy(max_retries=retries, base_delay=0.01, sleep=sleeps),
        )
        built.append(provider)
        return provider

    yield make
    for provider in built:
        provider.close()
