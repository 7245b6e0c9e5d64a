"""Failures injected through the sandboxes: what each client makes of them over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.demo.sandboxes import Sandbox
from providers.base import (
    OutcomeUnknown,
    Provider,
    RateLimited,
    Unavailable,
    UnexpectedResponse,
)

KINDS = ["mighty_networks", "unleash", "f5xc", "tyk"]
Start = Callable[[str], Sandbox]
Connect = Callable[..., Provider[Any]]


def ready(
    sandboxes: Start, connect: Connect, kind: str, **options: Any
) -> tuple[Sandbox, Provider[Any], Any]:
    sb = sandboxes(kind)
    sb.add_user(email="ann@example.com", name="Ann Lee")
    provider = connect(sb, **options)
    return sb, provider, provider.resolve("ann@example.com")


@pytest.mark.parametrize("kind", KINDS)
class TestActionFaults:
    def test_timeout_after_sending_is_outcome_unknown(
        self, kind: str, sandboxes: Start, connect: Connect
    ) -> None:
        """The provider acted but the answer never came: unknown, and not retried."""
        sb, provider, account = ready(sandboxes, connect, kind, timeout=0.3)
        sb.inject("action", fault="timeout")
        with pytest.raises(OutcomeUnknown, match="may or may not have happened"):
            provider.perform(provider.default_action, account)
        assert len(sb.wait_for_calls(1)) == 1

    def test_connection_reset_after_sending_is_outcome_unknown(
        self, kind: str, sandboxes: Start, connect: Connect
    ) -> None:
        """A dropped connection after the request is unknown too."""
        sb, provider, account = ready(sandboxes, connect, kind)
        sb.inject("action", fault="reset")
        with pytest.raises(OutcomeUnknown):
            provider.perform(provider.default_action, account)
        assert len(sb.action_calls()) == 1

    @pytest.mark.parametrize("fault", ["invalid_json", "unexpected_body"])
    def test_mangled_success_is_outcome_unknown(
        self, kind: str, sandboxes: Start, connect: Connect, fault: Any
    ) -> None:
        """A 200 that cannot be understood leaves the action's outcome unknown."""
        sb, provider, account = ready(sandboxes, connect, kind)
        sb.inject("action", fault=fault)
        with pytest.raises(OutcomeUnknown):
            provider.perform(provider.default_action, account)

    def test_html_502_is_outcome_unknown(
        self, kind: str, sandboxes: Start, connect: Connect
    ) -> None:
        """A gateway's HTML 502 after an action: unknown, not retried."""
        sb, provider, account = ready(sandboxes, connect, kind)
        sb.inject("action", fault="html")
        with pytest.raises(OutcomeUnknown, match="HTML"):
            provider.perform(provider.default_action, account)
        assert len(sb.action_calls()) == 1

    def test_503_is_retried_and_then_succeeds(
        self, kind: str, sandboxes: Start, connect: Connect
    ) -> None:
        """503 certainly did not act: retried once, and the action happens once."""
        sb, provider, account = ready(sandboxes, connect, kind)
        sb.inject("action", status=503, headers={"Retry-After": "0"})
        provider.perform(provider.default_action, account)
        assert [c.status for c in sb.action_calls()] == [503, sb.action_calls()[1].status]
        assert sb.action_calls()[1].status in (200, 204)

    def test_429_retries_are_bounded(self, kind: str, sandboxes: Start, connect: Connect) -> None:
        """Persistent 429 is tried 1 + max_retries times (Unleash's minute is never waited)."""
        sb, provider, account = ready(sandboxes, connect, kind, retries=2)
        sb.inject("action", status=429, headers={"Retry-After": "0"}, times=None)
        with pytest.raises(RateLimited):
            provider.perform(provider.default_action, account)
        assert len(sb.action_calls()) == (1 if kind == "unleash" else 3)

    def test_500_is_never_retried(self, kind: str, sandboxes: Start, connect: Connect) -> None:
        """A 500 after an action may mean it happened."""
        sb, provider, account = ready(sandboxes, connect, kind)
        sb.inject("action", status=500)
        with pytest.raises(OutcomeUnknown):
            provider.perform(provider.default_action, account)
        assert len(sb.action_calls()) == 1


@pytest.mark.parametrize("kind", KINDS)
class TestReadFaults:
    def test_look_up_timeout_is_unavailable(
        self, kind: str, sandboxes: Start, connect: Connect
    ) -> None:
        """A slow look-up changes nothing: Unavailable."""
        sb = sandboxes(kind)
        provider = connect(sb, timeout=0.3)
        sb.set_latency("lookup", 2.0)
        with pytest.raises(Unavailable, match="did not answer"):
            provider.resolve("ann@example.com")

    def test_look_up_html_page_is_unexpected(
        self, kind: str, sandboxes: Start, connect: Connect
    ) -> None:
        """An HTML 200 for a look-up is an UnexpectedResponse."""
        sb = sandboxes(kind)
        sb.inject("lookup", fault="html", status=200)
        with pytest.raises(UnexpectedResponse, match="HTML"):
            connect(sb).resolve("ann@example.com")

    def test_stopped_server_is_unavailable_after_bounded_retries(
        self, kind: str, sandboxes: Start, connect: Connect
    ) -> None:
        """Connection refused: retried max_retries times, then Unavailable."""
        sb = sandboxes(kind)
        provider = connect(sb, retries=1)
        sb.stop()
        with pytest.raises(Unavailable, match="Could not connect"):
            provider.check_credentials()


def test_unleash_link_check_failure_still_delivers_the_link(
    sandboxes: Start, connect: Connect
) -> None:
    """The reset happened; a failing check is noted in the summary, the link still comes."""
    sb, provider, account = ready(sandboxes, connect, "unleash")
    sb.inject("validate", status=503, times=None)
    result = provider.perform("reset", account)
    assert result.secret is not None and "could not be checked" in result.summary


def test_latency_applies_to_every_request(sandboxes: Start, connect: Connect) -> None:
    """sb.latency slows all steps; a timeout below it makes the check Unavailable."""
    sb = sandboxes("f5xc")
    sb.latency = 1.0
    with pytest.raises(Unavailable):
        connect(sb, timeout=0.2).check_credentials()
