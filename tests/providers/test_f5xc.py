"""The F5 Distributed Cloud client: look-up through user_roles, SSO and service refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from providers.base import (
    Account,
    BadCredentials,
    BadInput,
    Conflict,
    InsufficientPermission,
    NotFound,
    NotResettable,
    OutcomeUnknown,
    Provider,
    RateLimited,
    Unavailable,
)
from tests.providers.provider_fakes import F5_TOKEN, FakeApi, reply

USERS = "/api/web/custom/namespaces/system/user_roles"
RESET = "/api/web/custom/password/admin_reset"
WHOAMI = "/api/web/custom/namespaces/system/whoami"


def entry(email: str, **fields: Any) -> dict[str, Any]:
    return {
        "email": email,
        "name": email,
        "first_name": "Ann",
        "last_name": "Lee",
        "idm_type": "VOLTERRA_MANAGED",
        "disabled": False,
        "type": "USER",
        **fields,
    }


ROLES = {
    "items": [
        entry("ann@x.com"),
        entry("sso@x.com", idm_type="SSO", first_name="Sam", last_name="Sso"),
        entry("robot@x.com", type="SERVICE", first_name="", last_name="", name="ci-robot"),
        entry("gone@x.com", disabled=True),
    ]
}
ANN = Account("ann@x.com", "ann@x.com", "Ann Lee")


@pytest.fixture
def f5(api: FakeApi, make_provider: Callable[..., Provider[Any]]) -> Provider[Any]:
    api.on("GET", USERS, reply(200, ROLES))
    return make_provider("f5xc", api.transport)


class TestResolve:
    def test_console_user_resolves_with_apitoken_auth(
        self, f5: Provider[Any], api: FakeApi
    ) -> None:
        """The e-mail is matched client-side in user_roles; auth is `APIToken <token>`."""
        assert f5.resolve("ANN@x.com") == ANN
        assert api.requests[0].headers["Authorization"] == f"APIToken {F5_TOKEN}"

    @pytest.mark.parametrize(
        ("email", "words"),
        [
            ("sso@x.com", "single sign-on"),
            ("robot@x.com", "service credential"),
            ("gone@x.com", "disabled"),
        ],
    )
    def test_accounts_a_reset_cannot_help_carry_the_reason(
        self, f5: Provider[Any], email: str, words: str
    ) -> None:
        """SSO users, service credentials and disabled users resolve with a clear reason."""
        account = f5.resolve(email)
        assert account.not_resettable_reason is not None
        assert words in account.not_resettable_reason

    def test_unknown_email_is_not_found(self, f5: Provider[Any]) -> None:
        """No entry with that e-mail: NotFound."""
        with pytest.raises(NotFound, match=r"no console user with the e-mail zed@x\.com"):
            f5.resolve("zed@x.com")

    def test_non_email_is_refused_before_any_request(self, f5: Provider[Any], api: FakeApi) -> None:
        """F5 knows users by e-mail only."""
        with pytest.raises(BadInput, match="by e-mail"):
            f5.resolve("ann")
        assert api.requests == []

    @pytest.mark.parametrize("body", [{"items": None}, {}, [], {"items": {"a": 1}}])
    def test_odd_user_roles_bodies_are_unexpected(
        self, api: FakeApi, make_provider: Callable[..., Provider[Any]], body: Any
    ) -> None:
        """The body shape is not fixed by the spec: anything but items[] is refused."""
        from providers.base import UnexpectedResponse

        api.on("GET", USERS, reply(200, body))
        with pytest.raises(UnexpectedResponse):
            make_provider("f5xc", api.transport).resolve("ann@x.com")


class TestReset:
    def test_reset_posts_the_email_and_accepts_an_empty_object(
        self, f5: Provider[Any], api: FakeApi
    ) -> None:
        """200 {} is success; the summary does not claim an e-mail was delivered."""
        api.on("POST", RESET, reply(200, {}))
        result = f5.perform("reset", ANN)
        assert api.body(-1) == {"email": "ann@x.com"}
        assert "does not confirm" in result.summary and result.secret is None

    def test_sso_account_is_refused_without_calling_reset(
        self, f5: Provider[Any], api: FakeApi
    ) -> None:
        """perform on a not-resettable account raises NotResettable and sends nothing."""
        account = f5.resolve("sso@x.com")
        with pytest.raises(NotResettable, match="single sign-on"):
            f5.perform("reset", account)
        assert api.sent("POST") == []

    def test_user_who_moved_to_sso_while_waiting_is_refused(
        self, f5: Provider[Any], api: FakeApi
    ) -> None:
        """The stored account has no reason: perform looks again before resetting."""
        with pytest.raises(NotResettable):
            f5.perform("reset", Account("sso@x.com", "sso@x.com", "Sam Sso"))
        assert api.sent("POST") == []

    @pytest.mark.parametrize(
        ("status", "error", "words"),
        [
            (401, BadCredentials, "check `token`"),
            (403, InsufficientPermission, "tenant admin"),
            (404, NotFound, "ann@x.com was not found"),
            (409, Conflict, "conflicts"),
            (500, OutcomeUnknown, "may or may not"),
            (504, OutcomeUnknown, "may or may not"),
        ],
    )
    def test_documented_errors(
        self, f5: Provider[Any], api: FakeApi, status: int, error: type[Exception], words: str
    ) -> None:
        """Each documented status of admin_reset maps to its kind; {code, message} bodies."""
        api.on("POST", RESET, reply(status, {"code": 5, "message": "something"}))
        with pytest.raises(error, match=words):
            f5.perform("reset", ANN)
        assert len(api.sent("POST")) == 1

    def test_429_too_frequent_is_retried_then_reported(
        self, f5: Provider[Any], api: FakeApi
    ) -> None:
        """429 is retried within bounds, then RateLimited."""
        api.on("POST", RESET, reply(429, {"code": 8, "message": "too frequent"}))
        with pytest.raises(RateLimited):
            f5.perform("reset", ANN)
        assert len(api.sent("POST")) == 3

    def test_503_then_success(self, f5: Provider[Any], api: FakeApi) -> None:
        """503 certainly did not act: retried, then the reset goes through."""
        api.on("POST", RESET, reply(503, text="unavailable"), reply(200, {}))
        f5.perform("reset", ANN)
        assert len(api.sent("POST")) == 2

    def test_error_body_that_is_not_json(self, f5: Provider[Any], api: FakeApi) -> None:
        """Bodies are parsed defensively: a text 403 is still InsufficientPermission."""
        api.on("POST", RESET, reply(403, text="RBAC: access denied"))
        with pytest.raises(InsufficientPermission):
            f5.perform("reset", ANN)

    @pytest.mark.parametrize(
        "answer",
        [reply(200, text="ok"), reply(200, [1]), reply(200, {"code": 13})],
        ids=["text", "list", "non-empty-object"],
    )
    def test_unexpected_success_body_is_outcome_unknown(
        self, f5: Provider[Any], api: FakeApi, answer: httpx.Response
    ) -> None:
        """Only a JSON object is the documented answer."""
        api.on("POST", RESET, answer)
        with pytest.raises(OutcomeUnknown):
            f5.perform("reset", ANN)


class TestCredentials:
    def test_whoami_accepts_the_token(self, f5: Provider[Any], api: FakeApi) -> None:
        """whoami 200: ok, honestly noting admin rights are proven only by a reset."""
        api.on("GET", WHOAMI, reply(200, {"email": "admin@x.com"}))
        check = f5.check_credentials()
        assert check.ok and "admin@x.com" in check.detail

    def test_whoami_401_is_not_ok(self, f5: Provider[Any], api: FakeApi) -> None:
        """A refused token fails the check."""
        api.on("GET", WHOAMI, reply(401, {"code": 16, "message": "unauthenticated"}))
        assert not f5.check_credentials().ok

    def test_whoami_unreachable_raises(self, f5: Provider[Any], api: FakeApi) -> None:
        """Not reachable is not "bad credentials": it is raised as Unavailable."""
        api.on("GET", WHOAMI, httpx.ConnectError("refused"))
        with pytest.raises(Unavailable):
            f5.check_credentials()


def test_describe_and_title(f5: Provider[Any]) -> None:
    """One action, in plain words."""
    assert f5.title == "F5 Distributed Cloud"
    assert f5.describe("reset", ANN) == (
        "Reset the F5 Distributed Cloud console password of Ann Lee <ann@x.com>"
    )
