"""Builds configured provider instances from their settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import TypeAdapter

from providers.base import Provider
from providers.f5xc import F5XCProvider
from providers.mighty_networks import MightyNetworksProvider
from providers.settings import KINDS, ProviderSettings
from providers.tyk import TykProvider
from providers.unleash import UnleashProvider

PROVIDER_KINDS: dict[str, type[Provider[Any]]] = {
    MightyNetworksProvider.kind: MightyNetworksProvider,
    UnleashProvider.kind: UnleashProvider,
    F5XCProvider.kind: F5XCProvider,
    TykProvider.kind: TykProvider,
}
assert set(PROVIDER_KINDS) == set(KINDS), "every configurable kind needs a client"

_SETTINGS: TypeAdapter[ProviderSettings] = TypeAdapter(ProviderSettings)


def parse_settings(data: Mapping[str, Any]) -> ProviderSettings:
    """Validate one ``[providers.<name>]`` table (e.g. a sandbox's ``settings_dict()``)."""
    return _SETTINGS.validate_python(dict(data))


def build_provider(
    name: str, settings: ProviderSettings, *, transport: httpx.BaseTransport | None = None
) -> Provider[Any]:
    """The client for one configured instance."""
    return PROVIDER_KINDS[settings.kind](name=name, settings=settings, transport=transport)


def build_providers(
    mapping: Mapping[str, ProviderSettings], *, transport: httpx.BaseTransport | None = None
) -> dict[str, Provider[Any]]:
    """A client per configured instance, keyed by the instance name people type."""
    built: dict[str, Provider[Any]] = {}
    try:
        for name, settings in mapping.items():
            built[name] = build_provider(name, settings, transport=transport)
    except BaseException:
        for provider in built.values():
            provider.close()
        raise
    return built
