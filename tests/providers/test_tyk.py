"""The Tyk Dashboard client: allow/revoke the reset permission, and a full reset."""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from providers.base import (
    Account,
    BadCredentials,
    BadInput,
    InsufficientPermission,
    NotFound,
    OutcomeUnknown,
    Provider,
    Unavailable,
    UnexpectedResponse,
)
from providers.tyk import temporary_password
from tests.providers.provider_fakes import TYK_ADMIN_SECRET, TYK_DASHBOARD_KEY, FakeApi, reply

UID = "614215edb2d47190f98b3b79"
TOM = {
    "id": UID,
    "email_address": "tom@x.com",
    "first_name": "Tom",
    "last_name": "Tyk",
    "access_key": "68b225c4376748207453c235ed8e2a82",
    "user_permissions": {},
}
TOM_ACCOUNT = Account(UID, "tom@x.com", "Tom Tyk")
ALLOW = f"/admin/users/{UID}/actions/allow_reset_passwords"
DISALLOW = f"/admin/users/{UID}/actions/disallow_reset_passwords"
RESET = f"/api/users/{UID}/actions/reset"
UPDATED = {"Status": "OK", "Message": "User updated", "Meta": TOM}


@pytest.fixture
def tyk(api: FakeApi, make_provider: Callable[..., Provider[Any]]) -> Provider[Any]:
    return make_provider("tyk", api.transport)


@pytest.fixture
def tyk_admin_only(api: FakeApi, make_provider: Callable[..., Provider[Any]]) -> Provider[Any]:
    return make_provider("tyk", api.transport, dashboard_key=None)


class TestActions:
    def test_with_dashboard_key_full_reset_is_first(self, tyk: Provider[Any]) -> None:
        """reset (default), allow, revoke."""
        assert [a.name for a in tyk.actions] == ["reset", "allow", "revoke"]

    def test_without_dashboard_key_allow_is_first(self, tyk_admin_only: Provider[Any]) -> None:
        """No full reset without a dashboard key."""
        assert [a.name for a in tyk_admin_only.actions] == ["allow", "revoke"]
        assert tyk_admin_only.default_action == "allow"

    def test_descriptions_make_plain_which_action_is_which(self, tyk: Provider[Any]) -> None:
        """The permission actions never sound like a password reset of the user."""
        assert tyk.describe("allow", TOM_ACCOUNT) == (
            "Allow Tom Tyk <tom@x.com> to reset other users' passwords"
        )
        assert tyk.describe("revoke", TOM_ACCOUNT) == (
            "Revoke Tom Tyk's permission to reset other users' passwords"
        )
        assert tyk.describe("reset", TOM_ACCOUNT) == (
            "Reset Tom Tyk's Tyk Dashboard password to a temporary password "
            "(sent privately, by direct message)"
        )

    def test_describe_reset_without_key_is_a_value_error(
        self, tyk_admin_only: Provider[Any]
    ) -> None:
        """An action the instance does not offer cannot be described."""
        with pytest.raises(ValueError, match="`allow`, `revoke`"):
            tyk_admin_only.describe("reset", TOM_ACCOUNT)


class TestResolve:
    def test_id_is_fetched_from_the_admin_api(self, tyk: Provider[Any], api: FakeApi) -> None:
        """GET /admin/users/{id} with admin-auth; the access key is never kept."""
        api.on("GET", f"/admin/users/{UID}", reply(200, TOM))
        assert tyk.resolve(UID) == TOM_ACCOUNT
        assert api.requests[0].headers["admin-auth"] == TYK_ADMIN_SECRET
        assert "Authorization" not in api.requests[0].headers

    def test_wrapped_user_object_is_unwrapped(self, tyk: Provider[Any], api: FakeApi) -> None:
        """An answer in the {Status, Message, Meta} envelope works too."""
        api.on("GET", f"/admin/users/{UID}", reply(200, {"Status": "OK", "Meta": TOM}))
        assert tyk.resolve(UID) == TOM_ACCOUNT

    def test_unknown_id_is_not_found(self, tyk: Provider[Any], api: FakeApi) -> None:
        """404 {Status: Error, Meta: null}."""
        api.on(
            "GET",
            f"/admin/users/{UID}",
            reply(
                404, {"Status": "Error", "Message": "Could not retrieve user detail", "Meta": None}
            ),
        )
        with pytest.raises(NotFound, match=f"no user with id {UID}"):
            tyk.resolve(UID)

    def test_email_needs_the_dashboard_key(
        self, tyk_admin_only: Provider[Any], api: FakeApi
    ) -> None:
        """Without dashboard_key an e-mail cannot be looked up, and the message says so."""
        with pytest.raises(BadInput, match="needs `dashboard_key` for provider 'gateway'"):
            tyk_admin_only.resolve("tom@x.com")
        assert api.requests == []

    def test_email_is_searched_and_matched_exactly(self, tyk: Provider[Any], api: FakeApi) -> None:
        """The substring search is narrowed to the exact address."""
        api.on(
            "POST",
            "/api/users/search",
            reply(
                200,
                {
                    "users": [
                        {**TOM, "id": "aaaaaaaaaaaaaaaaaaaaaaaa", "email_address": "tom@x.com.au"},
                        TOM,
                    ],
                    "pages": 0,
                },
            ),
        )
        assert tyk.resolve("TOM@x.com") == TOM_ACCOUNT
        request = api.requests[0]
        assert request.headers["Authorization"] == TYK_DASHBOARD_KEY
        assert api.body(0) == {"filters": {"query": "TOM@x.com"}}

    def test_search_without_exact_match_is_not_found(
        self, tyk: Provider[Any], api: FakeApi
    ) -> None:
        """Only similar addresses: NotFound."""
        api.on(
            "POST",
            "/api/users/search",
            reply(200, {"users": [{**TOM, "email_address": "atom@x.com"}]}),
        )
        with pytest.raises(NotFound):
            tyk.resolve("tom@x.com")

    @pytest.mark.parametrize("typed", ["../etc", "tom smith", "", "a/b"])
    def test_unusable_input_is_refused(self, tyk: Provider[Any], api: FakeApi, typed: str) -> None:
        """Nothing that could escape a URL path is sent."""
        with pytest.raises(BadInput):
            tyk.resolve(typed)
        assert api.requests == []

    def test_other_user_in_answer_is_unexpected(self, tyk: Provider[Any], api: FakeApi) -> None:
        """The look-up of one id answering with another user is refused."""
        api.on("GET", f"/admin/users/{UID}", reply(200, {**TOM, "id": "b" * 24}))
        with pytest.raises(UnexpectedResponse):
            tyk.resolve(UID)


class TestPermission:
    def test_allow_puts_the_documented_action(self, tyk: Provider[Any], api: FakeApi) -> None:
        """200 {Status: OK, Message: User updated}: a clear summary, no secret."""
        api.on("PUT", ALLOW, reply(200, UPDATED))
        result = tyk.perform("allow", TOM_ACCOUNT)
        assert result.summary == (
            "Tyk Dashboard now lets Tom Tyk <tom@x.com> reset other users' passwords."
        )
        assert result.secret is None and "access_key" not in repr(result)
        assert api.requests[0].headers["admin-auth"] == TYK_ADMIN_SECRET

    def test_revoke_uses_disallow(self, tyk: Provider[Any], api: FakeApi) -> None:
        """revoke is disallow_reset_passwords."""
        api.on("PUT", DISALLOW, reply(200, UPDATED))
        assert "no longer" in tyk.perform("revoke", TOM_ACCOUNT).summary

    def test_403_failed_update_changed_nothing(self, tyk: Provider[Any], api: FakeApi) -> None:
        """The documented 403 "Failed to update User object to DB" is Unavailable."""
        api.on(
            "PUT",
            ALLOW,
            reply(
                403,
                {"Status": "Error", "Message": "Failed to update User object to DB", "Meta": None},
            ),
        )
        with pytest.raises(Unavailable, match="nothing was changed"):
            tyk.perform("allow", TOM_ACCOUNT)
        assert len(api.requests) == 1

    def test_403_wrong_admin_secret(self, tyk: Provider[Any], api: FakeApi) -> None:
        """Any other admin 403 means the admin secret was refused."""
        api.on(
            "PUT",
            ALLOW,
            reply(
                403,
                {
                    "Status": "Error",
                    "Message": "Attempted administrative access with invalid or missing key!",
                    "Meta": None,
                },
            ),
        )
        with pytest.raises(BadCredentials, match="check `admin_secret`"):
            tyk.perform("allow", TOM_ACCOUNT)

    def test_404_is_not_found(self, tyk: Provider[Any], api: FakeApi) -> None:
        """404 Could not retrieve user detail."""
        api.on(
            "PUT",
            ALLOW,
            reply(404, {"Status": "Error", "Message": "Could not retrieve user detail"}),
        )
        with pytest.raises(NotFound):
            tyk.perform("allow", TOM_ACCOUNT)

    @pytest.mark.parametrize(
        "answer",
        [
            reply(200, {"Status": "Error", "Message": "?"}),
            reply(200, {}),
            reply(200, text="<html/>"),
            reply(200),
        ],
        ids=["status-error", "empty-object", "html", "no-body"],
    )
    def test_success_without_status_ok_is_outcome_unknown(
        self, tyk: Provider[Any], api: FakeApi, answer: httpx.Response
    ) -> None:
        """A 200 that does not say OK leaves the change unknown."""
        api.on("PUT", ALLOW, answer)
        with pytest.raises(OutcomeUnknown):
            tyk.perform("allow", TOM_ACCOUNT)


class TestFullReset:
    def test_sets_a_generated_password_and_returns_it_as_a_secret(
        self, tyk: Provider[Any], api: FakeApi
    ) -> None:
        """The password sent is the secret returned, and appears nowhere else."""
        api.on(
            "POST",
            RESET,
            reply(200, {"Status": "OK", "Message": "User password updated", "Meta": None}),
        )
        result = tyk.perform("reset", TOM_ACCOUNT)
        assert result.secret is not None
        assert result.secret_label == "temporary password"  # noqa: S105 - a label
        password = result.secret.get_secret_value()
        assert api.body(0) == {"new_password": password}
        assert api.requests[0].headers["Authorization"] == TYK_DASHBOARD_KEY
        assert password not in result.summary and password not in repr(result)

    def test_missing_reset_permission(self, tyk: Provider[Any], api: FakeApi) -> None:
        """403 on the Dashboard API: the key's user lacks ResetPassword."""
        api.on("POST", RESET, reply(403, {"Status": "Error", "Message": "no permission"}))
        with pytest.raises(InsufficientPermission, match="ResetPassword"):
            tyk.perform("reset", TOM_ACCOUNT)

    def test_refused_dashboard_key(self, tyk: Provider[Any], api: FakeApi) -> None:
        """401 Not authorised names `dashboard_key`."""
        api.on("POST", RESET, reply(401, {"Status": "Error", "Message": "Not authorised"}))
        with pytest.raises(BadCredentials, match="check `dashboard_key`"):
            tyk.perform("reset", TOM_ACCOUNT)

    def test_password_policy_refusal_is_bad_input_without_the_password(
        self, tyk: Provider[Any], api: FakeApi
    ) -> None:
        """A 400 echoing the password never shows it."""

        def echo(request: httpx.Request) -> httpx.Response:
            sent = request.read().decode()
            return reply(400, {"Status": "Error", "Message": f"rejected {sent}"})

        api.on("POST", RESET, echo)
        with pytest.raises(BadInput) as info:
            tyk.perform("reset", TOM_ACCOUNT)
        sent = api.body(0)["new_password"]
        assert sent not in str(info.value)

    def test_timeout_is_outcome_unknown(self, tyk: Provider[Any], api: FakeApi) -> None:
        """No answer after sending: the password may or may not have been set."""
        api.on("POST", RESET, httpx.ReadTimeout("slow"))
        with pytest.raises(OutcomeUnknown):
            tyk.perform("reset", TOM_ACCOUNT)

    def test_reset_without_dashboard_key_is_refused(
        self, tyk_admin_only: Provider[Any], api: FakeApi
    ) -> None:
        """The action does not exist without a key."""
        with pytest.raises(BadInput):
            tyk_admin_only.perform("reset", TOM_ACCOUNT)
        assert api.requests == []


class TestCredentials:
    def test_both_credentials_checked(self, tyk: Provider[Any], api: FakeApi) -> None:
        """Admin API organisations and Dashboard API users both answer 200."""
        api.on("GET", "/admin/organisations", reply(200, {"organisations": []}))
        api.on("GET", "/api/users", reply(200, {"users": [TOM], "pages": 1}))
        check = tyk.check_credentials()
        assert check.ok and "dashboard key" in check.detail
        assert "68b225c4376748207453c235ed8e2a82" not in check.detail

    def test_bad_dashboard_key_fails(self, tyk: Provider[Any], api: FakeApi) -> None:
        """A working admin secret with a refused key is not ok."""
        api.on("GET", "/admin/organisations", reply(200, {"organisations": []}))
        api.on("GET", "/api/users", reply(401, {"Status": "Error", "Message": "Not authorised"}))
        check = tyk.check_credentials()
        assert not check.ok and "dashboard_key" in check.detail

    def test_admin_only_instance_says_what_is_missing(
        self, tyk_admin_only: Provider[Any], api: FakeApi
    ) -> None:
        """Without a key the check says e-mail look-up and full reset are off."""
        api.on("GET", "/admin/organisations", reply(200, {"organisations": []}))
        check = tyk_admin_only.check_credentials()
        assert check.ok and "no `dashboard_key`" in check.detail

    def test_refused_admin_secret(self, tyk: Provider[Any], api: FakeApi) -> None:
        """403 on organisations: not ok."""
        api.on("GET", "/admin/organisations", reply(403, {"Status": "Error"}))
        assert not tyk.check_credentials().ok


def test_temporary_passwords_are_strong_and_distinct() -> None:
    """20 characters from four classes, never repeating."""
    seen = {temporary_password() for _ in range(200)}
    assert len(seen) == 200
    for pw in list(seen)[:50]:
        assert len(pw) == 20
        assert any(c in string.ascii_uppercase for c in pw)
        assert any(c in string.ascii_lowercase for c in pw)
        assert any(c in string.digits for c in pw)
        assert any(c not in string.ascii_letters + string.digits for c in pw)
