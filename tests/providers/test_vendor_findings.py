"""Issue 20's findings, each against what the vendor documents; all failed before the fix."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bot.demo.sandboxes import F5XCSandbox, MightyNetworksSandbox, TykSandbox, UnleashSandbox
from providers.base import (
    Account,
    BadInput,
    InsufficientPermission,
    NotFound,
    NotResettable,
    Provider,
    RateLimited,
    Unavailable,
)
from providers.tyk import temporary_password
from tests.providers.provider_fakes import FakeApi, reply

UID = "614215edb2d47190f98b3b79"
TOM = {"id": UID, "email_address": "tom@x.com", "first_name": "Tom", "last_name": "Tyk"}
SEARCH = "/api/users/search"
RESET = f"/api/users/{UID}/actions/reset"
TOM_ACCOUNT = Account(UID, "tom@x.com", "Tom Tyk")
Make = Callable[..., Provider[Any]]
Start = Callable[[str], Any]


def _tyk_error(status: int, message: str) -> httpx.Response:
    return reply(status, {"Status": "Error", "Message": message, "Meta": None})


class TestTykLookUpByEmail:
    """Finding 1: the search pages, may answer null, and its 404 is a failure."""

    def test_the_user_on_a_later_page_is_found(self, api: FakeApi, make_provider: Make) -> None:
        others = [{**TOM, "id": f"u{i}", "email_address": f"tom@x.com.{i}"} for i in range(10)]

        def page(request: httpx.Request) -> httpx.Response:
            first = request.url.params.get("p", "1") == "1"
            return reply(200, {"users": others if first else [TOM], "pages": 2})

        api.on("POST", SEARCH, page)
        assert make_provider("tyk", api.transport).resolve("tom@x.com") == TOM_ACCOUNT

    def test_null_users_is_not_found(self, api: FakeApi, make_provider: Make) -> None:
        api.on("POST", SEARCH, reply(200, {"users": None, "pages": 0}))
        with pytest.raises(NotFound):
            make_provider("tyk", api.transport).resolve("tom@x.com")

    def test_404_is_a_failed_search_not_a_missing_user(
        self, api: FakeApi, make_provider: Make
    ) -> None:
        api.on("POST", SEARCH, _tyk_error(404, "Could not search users."))
        with pytest.raises(Unavailable, match="could not search"):
            make_provider("tyk", api.transport, retries=0).resolve("tom@x.com")

    def test_sandbox_pages_like_tyk(self, sandboxes: Start, connect: Make) -> None:
        sb: TykSandbox = sandboxes("tyk")
        for i in range(12):
            sb.add_user(email=f"ann@example.com.{i}", name=f"Ann {i}")
        wanted = sb.add_user(email="ann@example.com", name="Ann Exact")
        assert connect(sb).resolve("ann@example.com").id == wanted


class TestTykFullReset:
    """Finding 2: password policy, 403 and 500 told apart, OPA rules named."""

    def test_every_password_passes_the_docs_example_policy(self) -> None:
        for _ in range(500):
            pw = temporary_password()
            assert sum(c.isdigit() for c in pw) >= 2
            assert sum(not c.isalnum() for c in pw) >= 2
            assert all(abs(ord(a) - ord(b)) > 1 for a, b in itertools.pairwise(pw))

    def test_a_policy_refusal_is_answered_with_another_password(
        self, api: FakeApi, make_provider: Make
    ) -> None:
        api.on(
            "POST",
            RESET,
            _tyk_error(403, "Password must contain at least 2 special characters."),
            reply(200, {"Status": "OK", "Message": "User password updated", "Meta": None}),
        )
        result = make_provider("tyk", api.transport).perform("reset", TOM_ACCOUNT)
        sent = [r.read() for r in api.sent("POST", RESET)]
        assert result.secret is not None and len(sent) == 2 and sent[0] != sent[1]

    def test_malformed_body_is_not_called_a_missing_permission(
        self, api: FakeApi, make_provider: Make
    ) -> None:
        api.on("POST", RESET, _tyk_error(403, "Request body malformed."))
        with pytest.raises(BadInput, match="malformed"):
            make_provider("tyk", api.transport).perform("reset", TOM_ACCOUNT)

    def test_unauthorised_access_500_is_a_refusal_naming_the_opa_rules(
        self, api: FakeApi, make_provider: Make
    ) -> None:
        api.on("POST", RESET, _tyk_error(500, "Attempted unauthorised access."))
        with pytest.raises(InsufficientPermission, match="only admin users"):
            make_provider("tyk", api.transport).perform("reset", TOM_ACCOUNT)

    def test_sandbox_policy_and_opa_rules(self, sandboxes: Start, connect: Make) -> None:
        sb: TykSandbox = sandboxes("tyk")
        sb.password_policy = {"minNumeric": 2, "minSpecial": 2, "disableSequential": True}
        uid = sb.add_user(email="ann@example.com", name="Ann Lee")
        ann = Account(uid, "ann@example.com", "Ann Lee")
        assert connect(sb).perform("reset", ann).secret is not None
        helper = sb.add_user(email="hal@example.com", name="Hal Help", reset_passwords=True)
        sb.opa_rules = True
        settings = {**sb.settings_dict(), "dashboard_key": sb.users[helper]["access_key"]}
        with pytest.raises(InsufficientPermission, match="OPA"):
            connect(sb, settings=settings).perform("reset", ann)


class TestUnleashLimits:
    """Finding 3: the endpoint limit's 429 with Retry-After, and SCIM-managed users."""

    def test_endpoint_limit_uses_retry_after(self, api: FakeApi, make_provider: Make) -> None:
        page = reply(429, text="Too many requests, please try again later.")
        page.headers["Retry-After"] = "18"
        page.headers["Content-Type"] = "text/html; charset=utf-8"
        api.on("POST", "/api/admin/user-admin/reset-password", page)
        with pytest.raises(RateLimited, match="20 calls a minute") as info:
            make_provider("unleash", api.transport, retries=0).perform(
                "reset", Account("a@x.com", "a@x.com")
            )
        assert info.value.retry_after == 18.0

    def test_sandbox_limits_the_endpoint(self, sandboxes: Start, connect: Make) -> None:
        sb: UnleashSandbox = sandboxes("unleash")
        provider = connect(sb, retries=0)
        for _ in range(sb.endpoint_limit):
            with pytest.raises(NotFound):
                provider.perform("reset", Account("nobody@example.com", "nobody@example.com"))
        with pytest.raises(RateLimited, match="20 calls a minute") as info:
            provider.perform("reset", Account("nobody@example.com", "nobody@example.com"))
        assert info.value.retry_after is not None and 0 < info.value.retry_after <= 60

    def test_scim_managed_user_is_not_resettable(self, sandboxes: Start, connect: Make) -> None:
        sb: UnleashSandbox = sandboxes("unleash")
        sb.add_user(email="sam@example.com", name="Sam Scim", scim=True)
        provider = connect(sb)
        with pytest.raises(NotResettable, match="SCIM"):
            provider.perform("reset", provider.resolve("sam@example.com"))


class TestMightyNetworks:
    """Finding 4: /me's admin flag is read; a member id is looked up."""

    def test_non_admin_token_fails_the_check(self, sandboxes: Start, connect: Make) -> None:
        sb: MightyNetworksSandbox = sandboxes("mighty_networks")
        assert connect(sb).check_credentials().ok
        sb.token_admin = False
        check = connect(sb).check_credentials()
        assert not check.ok and check.shortfalls

    def test_member_id_shows_who_it_is(self, sandboxes: Start, connect: Make) -> None:
        sb: MightyNetworksSandbox = sandboxes("mighty_networks")
        mid = sb.add_user(email="ann@example.com", name="Ann Lee")
        assert connect(sb).resolve(mid) == Account(mid, "ann@example.com", "Ann Lee")
        with pytest.raises(NotFound):
            connect(sb).resolve("999")


class TestTykCredentialCheck:
    """Finding 5: the documented 404 of GET /admin/organisations."""

    def test_organisations_404_is_no_crash_and_no_garble(
        self, api: FakeApi, make_provider: Make
    ) -> None:
        api.on("GET", "/admin/organisations", _tyk_error(404, "Could not retrieve Organisations"))
        check = make_provider("tyk", api.transport, dashboard_key=None).check_credentials()
        assert check.ok and "has no user" not in check.detail


class TestF5:
    """Finding 6: DEBUG users (made for F5 support) are not people to reset."""

    def test_debug_user_is_not_resettable(self, sandboxes: Start, connect: Make) -> None:
        sb: F5XCSandbox = sandboxes("f5xc")
        sb.add_user(email="support@f5.example", name="F5 Support", debug=True)
        account = connect(sb).resolve("support@f5.example")
        assert account.not_resettable_reason and "support" in account.not_resettable_reason


class TestPrivileged:
    """Account.privileged comes from what each vendor's API says about the user."""

    @pytest.mark.parametrize(
        ("kind", "why"),
        [
            ("unleash", "root role Admin"),
            ("tyk", "IsAdmin"),
            ("f5xc", "ves-io-admin-role"),
            ("mighty_networks", "host"),
        ],
    )
    def test_admins_are_privileged_others_not(
        self, kind: str, why: str, sandboxes: Start, connect: Make
    ) -> None:
        sb = sandboxes(kind)
        boss = sb.add_user(email="boss@example.com", name="Bo Boss", admin=True)
        staff = sb.add_user(email="staff@example.com", name="Sta Staff")
        provider = connect(sb)
        mighty = kind == "mighty_networks"  # its members are looked up by id here
        admin = provider.resolve(boss if mighty else "boss@example.com")
        plain = provider.resolve(staff if mighty else "staff@example.com")
        assert admin.privileged and admin.privileged_why and why in admin.privileged_why
        assert not plain.privileged and plain.privileged_why is None
