"""Every client against its sandbox over real HTTP: the documented contracts end to end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.demo.sandboxes import (
    F5XCSandbox,
    MightyNetworksSandbox,
    Sandbox,
    TykSandbox,
    UnleashSandbox,
)
from providers.base import (
    Account,
    BadCredentials,
    BadInput,
    InsufficientPermission,
    NotFound,
    NotResettable,
    Provider,
    RateLimited,
)

KINDS = ["mighty_networks", "unleash", "f5xc", "tyk"]
Start = Callable[[str], Sandbox]
Connect = Callable[..., Provider[Any]]
WRONG_SECRET: dict[str, dict[str, str]] = {
    "mighty_networks": {"token": "wrong"},
    "unleash": {"token": "wrong"},
    "f5xc": {"token": "wrong"},
    "tyk": {"admin_secret": "wrong", "dashboard_key": "wrong"},
}


@pytest.mark.parametrize("kind", KINDS)
class TestEveryKind:
    def test_credentials_check_passes(self, kind: str, sandboxes: Start, connect: Connect) -> None:
        """The sandbox's own credentials pass the credential check."""
        check = connect(sandboxes(kind)).check_credentials()
        assert check.ok, check.detail

    def test_resolve_then_default_action_reaches_the_action_endpoint_once(
        self, kind: str, sandboxes: Start, connect: Connect
    ) -> None:
        """Look up by e-mail, perform the default action: exactly one action call."""
        sb = sandboxes(kind)
        uid = sb.add_user(email="ann@example.com", name="Ann Lee")
        provider = connect(sb)
        account = provider.resolve("ann@example.com")
        assert account.id == uid and account.display_name == "Ann Lee"
        result = provider.perform(provider.default_action, account)
        assert result.summary
        assert len(sb.wait_for_calls(1)) == 1 and sb.action_calls()[0].status in (200, 204)

    def test_unknown_user_is_not_found(self, kind: str, sandboxes: Start, connect: Connect) -> None:
        """An e-mail nobody has is NotFound."""
        with pytest.raises(NotFound):
            connect(sandboxes(kind)).resolve("nobody@example.com")

    def test_wrong_secret_is_bad_credentials(
        self, kind: str, sandboxes: Start, connect: Connect
    ) -> None:
        """A wrong credential is refused, and the check says so."""
        sb = sandboxes(kind)
        sb.add_user(email="ann@example.com", name="Ann Lee")
        provider = connect(sb, **WRONG_SECRET[kind])
        assert not provider.check_credentials().ok
        with pytest.raises(BadCredentials):
            provider.resolve("ann@example.com")

    def test_calls_record_no_credentials(
        self, kind: str, sandboxes: Start, connect: Connect
    ) -> None:
        """Recorded calls carry method, path, query, body and step, never a credential."""
        sb = sandboxes(kind)
        sb.add_user(email="ann@example.com", name="Ann Lee")
        provider = connect(sb)
        provider.perform(provider.default_action, provider.resolve("ann@example.com"))
        secrets = [
            v for k, v in sb.settings_dict().items() if k not in ("kind", "base_url", "network_id")
        ]
        assert all(s not in repr(sb.calls) for s in secrets)
        assert {c.step for c in sb.calls} >= {"lookup", "action"}


class TestMightyNetworks:
    def test_reset_email_goes_to_the_member(self, sandboxes: Start, connect: Connect) -> None:
        """The sandbox "sends" the e-mail to the member reset by id."""
        sb = sandboxes("mighty_networks")
        assert isinstance(sb, MightyNetworksSandbox)
        uid = sb.add_user(email="ann@example.com", name="Ann Lee")
        provider = connect(sb)
        provider.perform("reset", provider.resolve(uid))
        assert sb.emails_sent == ["ann@example.com"]

    def test_numeric_network_id_works_and_other_networks_are_forbidden(
        self, sandboxes: Start, connect: Connect
    ) -> None:
        """A key works for its own network (by id or subdomain) only."""
        sb = sandboxes("mighty_networks")
        assert connect(sb, network_id="4711").check_credentials().ok
        with pytest.raises(InsufficientPermission):
            connect(sb, network_id="other").resolve("ann@example.com")

    def test_expired_token(self, sandboxes: Start, connect: Connect) -> None:
        """401 token_expired is told as such."""
        sb = sandboxes("mighty_networks")
        assert isinstance(sb, MightyNetworksSandbox)
        sb.token_expired = True
        with pytest.raises(BadCredentials, match="expired"):
            connect(sb).resolve("ann@example.com")


class TestUnleash:
    @pytest.fixture
    def sb(self, sandboxes: Start) -> UnleashSandbox:
        sb = sandboxes("unleash")
        assert isinstance(sb, UnleashSandbox)
        sb.add_user(email="ann@example.com", name="Ann Lee")
        return sb

    def test_link_opens_the_right_account(self, sb: UnleashSandbox, connect: Connect) -> None:
        """The delivered link is live and belongs to the user reset."""
        provider = connect(sb)
        result = provider.perform("reset", provider.resolve("ANN@example.com"))
        assert result.secret is not None and result.details["link_verified"]
        assert sb.email_for_link(result.secret.get_secret_value()) == "ann@example.com"

    def test_a_new_reset_kills_the_old_link(self, sb: UnleashSandbox, connect: Connect) -> None:
        """Each reset invalidates the earlier links."""
        provider = connect(sb)
        account = provider.resolve("ann@example.com")
        first = provider.perform("reset", account).secret
        sb.reset_rate_limits()
        second = provider.perform("reset", account).secret
        assert first is not None and second is not None
        assert sb.email_for_link(first.get_secret_value()) is None
        assert sb.email_for_link(second.get_secret_value()) == "ann@example.com"

    def test_second_reset_within_a_minute(self, sb: UnleashSandbox, connect: Connect) -> None:
        """One reset per user per minute; no retry, a 60 s wait."""
        provider = connect(sb)
        account = provider.resolve("ann@example.com")
        provider.perform("reset", account)
        with pytest.raises(RateLimited) as info:
            provider.perform("reset", account)
        assert info.value.retry_after == 60.0 and len(sb.action_calls()) == 2

    @pytest.mark.parametrize("token_attr", ["editor_token", "client_token"])
    def test_non_admin_tokens(self, sb: UnleashSandbox, connect: Connect, token_attr: str) -> None:
        """Editor PATs and client tokens lack ADMIN: the reset and the check both say so."""
        provider = connect(sb, token=getattr(sb, token_attr))
        assert not provider.check_credentials().ok
        with pytest.raises(InsufficientPermission):
            provider.perform("reset", Account("ann@example.com", "ann@example.com"))

    def test_bearer_prefix_is_accepted(self, sb: UnleashSandbox, connect: Connect) -> None:
        """`Bearer <token>` works like the bare token."""
        assert connect(sb, token=f"Bearer {sb.admin_token}").check_credentials().ok


class TestF5XC:
    @pytest.fixture
    def sb(self, sandboxes: Start) -> F5XCSandbox:
        sb = sandboxes("f5xc")
        assert isinstance(sb, F5XCSandbox)
        return sb

    @pytest.mark.parametrize("kind", ["sso", "service", "disabled"])
    def test_accounts_that_cannot_be_reset(
        self, sb: F5XCSandbox, connect: Connect, kind: str
    ) -> None:
        """SSO users, service credentials, disabled users: reason on resolve, no reset call."""
        sb.add_user(email="x@example.com", name="X Y", **{kind: True})
        provider = connect(sb)
        account = provider.resolve("x@example.com")
        assert account.not_resettable_reason
        with pytest.raises(NotResettable):
            provider.perform("reset", account)
        assert sb.action_calls() == [] and sb.resets == []

    def test_readonly_token_cannot_reset(self, sb: F5XCSandbox, connect: Connect) -> None:
        """The token carries its creator's rights."""
        sb.add_user(email="ann@example.com", name="Ann Lee")
        provider = connect(sb, token=sb.readonly_token)
        with pytest.raises(InsufficientPermission):
            provider.perform("reset", provider.resolve("ann@example.com"))


class TestTyk:
    @pytest.fixture
    def sb(self, sandboxes: Start) -> TykSandbox:
        sb = sandboxes("tyk")
        assert isinstance(sb, TykSandbox)
        return sb

    def test_allow_then_revoke_changes_the_permission(
        self, sb: TykSandbox, connect: Connect
    ) -> None:
        """allow grants ResetPassword, revoke removes it."""
        uid = sb.add_user(email="tom@example.com", name="Tom Tyk")
        provider = connect(sb)
        account = provider.resolve(uid)
        provider.perform("allow", account)
        assert sb.can_reset(uid)
        provider.perform("revoke", account)
        assert not sb.can_reset(uid)

    def test_full_reset_sets_the_returned_password(self, sb: TykSandbox, connect: Connect) -> None:
        """The temporary password in the result is the one now set; the record redacts it."""
        uid = sb.add_user(email="tom@example.com", name="Tom Tyk")
        provider = connect(sb)
        result = provider.perform("reset", provider.resolve("tom@example.com"))
        assert result.secret is not None
        password = result.secret.get_secret_value()
        assert sb.check_password(uid, password)
        assert password not in repr(sb.calls)

    def test_admin_only_instance_resolves_by_id_only(
        self, sb: TykSandbox, connect: Connect
    ) -> None:
        """Without dashboard_key: ids work, e-mails are refused with the reason."""
        uid = sb.add_user(email="tom@example.com", name="Tom Tyk")
        provider = connect(sb, settings=sb.settings_dict(dashboard_key=False))
        assert provider.resolve(uid).email == "tom@example.com"
        with pytest.raises(BadInput, match="dashboard_key"):
            provider.resolve("tom@example.com")
        assert [a.name for a in provider.actions] == ["allow", "revoke"]

    def test_key_without_reset_permission(self, sb: TykSandbox, connect: Connect) -> None:
        """A dashboard key whose user lacks ResetPassword cannot do a full reset."""
        uid = sb.add_user(email="tom@example.com", name="Tom Tyk")
        provider = connect(sb, dashboard_key=sb.limited_key)
        with pytest.raises(InsufficientPermission, match="ResetPassword"):
            provider.perform("reset", provider.resolve(uid))
