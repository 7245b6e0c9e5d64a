"""The registry builds one client per configured instance, of the configured kind."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from bot.demo.sandboxes import SANDBOX_KINDS, start_sandbox
from providers.f5xc import F5XCProvider
from providers.mighty_networks import MightyNetworksProvider
from providers.registry import PROVIDER_KINDS, build_provider, build_providers, parse_settings
from providers.settings import KINDS
from providers.tyk import TykProvider
from providers.unleash import UnleashProvider


def test_every_configurable_kind_has_a_client_and_a_sandbox() -> None:
    """The four kinds of the settings each have a client and a sandbox."""
    assert set(PROVIDER_KINDS) == set(KINDS) == set(SANDBOX_KINDS)
    assert {k: c.title for k, c in PROVIDER_KINDS.items()} == {
        "mighty_networks": "Mighty Networks",
        "unleash": "Unleash",
        "f5xc": "F5 Distributed Cloud",
        "tyk": "Tyk Dashboard",
    }


def test_build_providers_names_each_instance() -> None:
    """Instances are keyed by the name people type, each of its own kind."""
    mapping = {
        "community": parse_settings(
            {"kind": "mighty_networks", "network_id": "acme", "token": "t"}
        ),
        "flags": parse_settings({"kind": "unleash", "base_url": "https://u.test", "token": "t"}),
        "edge": parse_settings({"kind": "f5xc", "base_url": "https://f.test", "token": "t"}),
        "gateway": parse_settings(
            {"kind": "tyk", "base_url": "https://t.test", "admin_secret": "s"}
        ),
    }
    built = build_providers(mapping)
    try:
        assert {n: type(p) for n, p in built.items()} == {
            "community": MightyNetworksProvider,
            "flags": UnleashProvider,
            "edge": F5XCProvider,
            "gateway": TykProvider,
        }
        assert built["flags"].name == "flags"
    finally:
        for provider in built.values():
            provider.close()


def test_transport_reaches_the_client() -> None:
    """A transport given to build_provider carries the client's requests."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"password": 1})

    settings = parse_settings({"kind": "unleash", "base_url": "https://u.test", "token": "t"})
    provider = build_provider("flags", settings, transport=httpx.MockTransport(handler))
    assert provider.check_credentials().ok and seen[0].url.host == "u.test"
    provider.close()


@pytest.mark.parametrize("kind", list(SANDBOX_KINDS))
def test_sandbox_settings_parse_and_build(kind: str) -> None:
    """settings_dict() of every sandbox is valid config for its kind."""
    with start_sandbox(kind) as sb:
        provider = build_provider("demo", parse_settings(sb.settings_dict()))
        assert provider.kind == kind and provider.check_credentials().ok
        provider.close()


def test_bad_settings_are_refused() -> None:
    """A blank token is a configuration error, not a runtime surprise."""
    with pytest.raises(ValidationError):
        parse_settings({"kind": "unleash", "base_url": "https://u.test", "token": "  "})
