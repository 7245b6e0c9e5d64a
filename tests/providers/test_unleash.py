"""The Unleash client against every documented answer, including the tested oddities."""

from __future__ import annotations

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
    RateLimited,
    Unavailable,
    UnexpectedResponse,
)
from tests.providers.provider_fakes import UNLEASH_TOKEN, FakeApi, reply

RESET = "/api/admin/user-admin/reset-password"
SEARCH = "/api/admin/user-admin/search"
VALIDATE = "/auth/reset/validate"
TOKEN = "$2b$10$74xrd/vWb8.RnqtKJ5ERDOr7y6qG0LPE/4mkhRmIg8s6jzWrtj.qy"  # noqa: S105
LINK = f"https://unleash.test/reset-password?token={TOKEN}"
ANN = Account("ann@x.com", "ann@x.com", "Ann Lee")


def unleash_error(status: int, name: str, message: str, *, with_id: bool = False) -> httpx.Response:
    body: dict[str, Any] = {"name": name, "message": message, "details": [{"message": message}]}
    if with_id:
        body["id"] = "3c5767c0-df57-421f-8d3e-d12f45b86ce8"
    return reply(status, body)


def valid_for(email: str) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("token") != TOKEN:
            return unleash_error(401, "InvalidTokenError", "Token was not valid")
        return reply(200, {"token": TOKEN, "email": email, "name": "Ann Lee", "id": 2})

    return answer


@pytest.fixture
def unleash(api: FakeApi, make_provider: Callable[..., Provider[Any]]) -> Provider[Any]:
    return make_provider("unleash", api.transport)


class TestReset:
    def test_reset_returns_the_link_as_a_secret_after_verifying_it(
        self, unleash: Provider[Any], api: FakeApi
    ) -> None:
        """200 resetPasswordUrl: the link travels only in `secret`, verified for the e-mail."""
        api.on("POST", RESET, reply(200, {"resetPasswordUrl": LINK}))
        api.on("GET", VALIDATE, valid_for("ann@x.com"))
        result = unleash.perform("reset", ANN)
        assert result.secret is not None and result.secret.get_secret_value() == LINK
        assert result.secret_label == "reset link"  # noqa: S105 - a label
        assert TOKEN not in result.summary and TOKEN not in repr(result)
        assert result.details["link_verified"] is True
        reset, validate = api.requests
        assert reset.headers["Authorization"] == UNLEASH_TOKEN
        assert reset.headers["Content-Type"] == "application/json"
        assert api.body(0) == {"id": "ann@x.com"}
        assert "Authorization" not in validate.headers  # the check needs no credential

    def test_verification_can_be_turned_off(
        self, api: FakeApi, make_provider: Callable[..., Provider[Any]]
    ) -> None:
        """verify_link = false: no call to /auth/reset/validate."""
        unleash = make_provider("unleash", api.transport, verify_link=False)
        api.on("POST", RESET, reply(200, {"resetPasswordUrl": LINK}))
        result = unleash.perform("reset", ANN)
        assert result.secret is not None and result.details["link_check"] == "disabled"
        assert len(api.requests) == 1

    def test_link_for_another_user_is_withheld(self, unleash: Provider[Any], api: FakeApi) -> None:
        """If the link opens someone else's account, it is never handed out."""
        api.on("POST", RESET, reply(200, {"resetPasswordUrl": LINK}))
        api.on("GET", VALIDATE, valid_for("mallory@x.com"))
        with pytest.raises(UnexpectedResponse, match="withheld") as info:
            unleash.perform("reset", ANN)
        assert TOKEN not in str(info.value)

    @pytest.mark.parametrize(
        ("answer", "note"),
        [
            (
                unleash_error(401, "InvalidTokenError", "Token was not valid"),
                "did not accept the link",
            ),
            (reply(503, text="down"), "could not be checked"),
            (httpx.ReadTimeout("slow"), "could not be checked"),
            (reply(200, {"token": TOKEN}), "did not name a user"),
        ],
        ids=["invalid", "unavailable", "timeout", "no-email"],
    )
    def test_failed_verification_still_delivers_the_link_with_a_note(
        self, unleash: Provider[Any], api: FakeApi, answer: Any, note: str
    ) -> None:
        """The reset already happened: the link is delivered, and the doubt is said."""
        api.on("POST", RESET, reply(200, {"resetPasswordUrl": LINK}))
        api.on("GET", VALIDATE, answer)
        result = unleash.perform("reset", ANN)
        assert result.secret is not None
        assert note in result.summary and result.details["link_verified"] is False

    def test_unknown_user_is_not_found(self, unleash: Provider[Any], api: FakeApi) -> None:
        """404 NotFoundError (a body without `id`) names the e-mail."""
        api.on("POST", RESET, unleash_error(404, "NotFoundError", "No user found"))
        with pytest.raises(NotFound, match=r"no user with the e-mail ann@x\.com"):
            unleash.perform("reset", ANN)

    def test_second_reset_within_a_minute_is_rate_limited_for_sixty_seconds(
        self, unleash: Provider[Any], api: FakeApi, sleeps: Any
    ) -> None:
        """429 without Retry-After: one reset per user per minute; not retried."""
        api.on("POST", RESET, unleash_error(429, "RateLimitError", "one per minute"))
        with pytest.raises(RateLimited, match="one password reset per user per minute") as info:
            unleash.perform("reset", ANN)
        assert info.value.retry_after == 60.0
        assert len(api.requests) == 1 and sleeps.waits == []

    @pytest.mark.parametrize(
        "answer",
        [
            unleash_error(401, "AuthenticationRequired", "You must log in", with_id=True),
            unleash_error(
                401, "UnauthorizedError", "You must log in to use Unleash.", with_id=True
            ),
        ],
        ids=["no-header", "bad-token"],
    )
    def test_401_is_bad_credentials(
        self, unleash: Provider[Any], api: FakeApi, answer: httpx.Response
    ) -> None:
        """Both 401 kinds say which setting to check."""
        api.on("POST", RESET, answer)
        with pytest.raises(BadCredentials) as info:
            unleash.perform("reset", ANN)
        assert str(info.value) == ("Unleash refused the token: check `token` for provider 'flags'.")

    def test_editor_token_lacks_admin(self, unleash: Provider[Any], api: FakeApi) -> None:
        """403 PermissionError: the token needs ADMIN."""
        api.on("POST", RESET, unleash_error(403, "PermissionError", "you need ADMIN", with_id=True))
        with pytest.raises(InsufficientPermission, match="ADMIN"):
            unleash.perform("reset", ANN)

    def test_client_token_is_the_wrong_kind(self, unleash: Provider[Any], api: FakeApi) -> None:
        """403 "expected a different token type" (a body with only `message`)."""
        api.on(
            "POST",
            RESET,
            reply(
                403, {"message": "invalid token: expected a different token type for this endpoint"}
            ),
        )
        with pytest.raises(InsufficientPermission, match="wrong kind of token"):
            unleash.perform("reset", ANN)

    def test_bad_data_is_bad_input(self, unleash: Provider[Any], api: FakeApi) -> None:
        """400 BadDataError is BadInput with the provider's words."""
        api.on(
            "POST",
            RESET,
            unleash_error(400, "BadDataError", "Request validation failed", with_id=True),
        )
        with pytest.raises(BadInput, match="BadDataError"):
            unleash.perform("reset", ANN)

    def test_415_is_unexpected_and_did_nothing(self, unleash: Provider[Any], api: FakeApi) -> None:
        """415 ContentTypeError means the request was refused as sent."""
        api.on("POST", RESET, unleash_error(415, "ContentTypeError", "content-type"))
        with pytest.raises(UnexpectedResponse, match="nothing was done"):
            unleash.perform("reset", ANN)

    def test_500_after_sending_is_outcome_unknown(
        self, unleash: Provider[Any], api: FakeApi
    ) -> None:
        """A 500 on the reset may have created a link: outcome unknown, not retried."""
        api.on("POST", RESET, unleash_error(500, "UnknownError", "boom"))
        with pytest.raises(OutcomeUnknown):
            unleash.perform("reset", ANN)
        assert len(api.requests) == 1

    @pytest.mark.parametrize("user", ["", "  ", "42", "ann"])
    def test_empty_or_numeric_id_never_reaches_unleash(
        self, unleash: Provider[Any], api: FakeApi, user: str
    ) -> None:
        """Unleash answers 500 to {"id": ""} and 404 to numbers: refuse them first."""
        with pytest.raises(BadInput, match="e-mail"):
            unleash.perform("reset", Account(user))
        assert api.requests == []

    @pytest.mark.parametrize(
        "answer",
        [
            reply(200, {}),
            reply(200, {"resetPasswordUrl": "not a url"}),
            reply(200, {"resetPasswordUrl": "https://u.test/reset-password"}),
            reply(200, text="{oops"),
            reply(200, text="<html></html>"),
            reply(204),
        ],
        ids=["empty", "not-url", "no-token", "invalid-json", "html", "no-body"],
    )
    def test_success_without_a_usable_link_is_outcome_unknown(
        self, unleash: Provider[Any], api: FakeApi, answer: httpx.Response
    ) -> None:
        """The reset may have happened (old links are dead), but there is no link."""
        api.on("POST", RESET, answer)
        with pytest.raises(OutcomeUnknown):
            unleash.perform("reset", ANN)


class TestResolve:
    def test_search_result_matching_the_email_resolves(
        self, unleash: Provider[Any], api: FakeApi
    ) -> None:
        """The prefix search is filtered to the exact e-mail, case-insensitively."""
        api.on(
            "GET",
            SEARCH,
            reply(
                200,
                [
                    {"id": 3, "name": "Ann Leeson", "email": "ann@x.com.au"},
                    {"id": 2, "name": "Ann Lee", "email": "ann@x.com"},
                ],
            ),
        )
        api.on("GET", "/api/admin/user-admin/2", reply(200, {"id": 2, "rootRole": 3}))
        assert unleash.resolve("ANN@x.com") == Account("ann@x.com", "ann@x.com", "Ann Lee")
        assert api.requests[0].url.params["q"] == "ANN@x.com"

    def test_only_prefix_matches_is_not_found(self, unleash: Provider[Any], api: FakeApi) -> None:
        """Similar addresses are not the user."""
        api.on("GET", SEARCH, reply(200, [{"id": 3, "email": "ann@x.com.au"}]))
        with pytest.raises(NotFound):
            unleash.resolve("ann@x.com")

    def test_numeric_id_is_refused(self, unleash: Provider[Any], api: FakeApi) -> None:
        """Unleash resets by e-mail only."""
        with pytest.raises(BadInput, match="by e-mail"):
            unleash.resolve("2")
        assert api.requests == []

    def test_search_answering_an_object_is_unexpected(
        self, unleash: Provider[Any], api: FakeApi
    ) -> None:
        """A non-list search answer is an UnexpectedResponse."""
        api.on("GET", SEARCH, reply(200, {"users": []}))
        with pytest.raises(UnexpectedResponse):
            unleash.resolve("ann@x.com")

    def test_search_timeout_is_unavailable(self, unleash: Provider[Any], api: FakeApi) -> None:
        """A look-up that times out changed nothing."""
        api.on("GET", SEARCH, httpx.ReadTimeout("slow"))
        with pytest.raises(Unavailable):
            unleash.resolve("ann@x.com")


class TestCredentials:
    def test_admin_count_proves_admin(self, unleash: Provider[Any], api: FakeApi) -> None:
        """200 on admin-count means the token has ADMIN."""
        api.on(
            "GET",
            "/api/admin/user-admin/admin-count",
            reply(200, {"password": 1, "noPassword": 0, "service": 0}),
        )
        assert unleash.check_credentials().ok

    @pytest.mark.parametrize(
        "answer",
        [
            unleash_error(403, "PermissionError", "need ADMIN"),
            reply(403, {"message": "invalid token: expected a different token type"}),
            unleash_error(401, "UnauthorizedError", "You must log in"),
        ],
        ids=["editor", "client-token", "bad-token"],
    )
    def test_without_admin_the_check_fails(
        self, unleash: Provider[Any], api: FakeApi, answer: httpx.Response
    ) -> None:
        """Any token that is not ADMIN fails the check with a reason."""
        api.on("GET", "/api/admin/user-admin/admin-count", answer)
        check = unleash.check_credentials()
        assert not check.ok and "provider 'flags'" in check.detail


def test_describe_says_the_link_comes_privately(unleash: Provider[Any]) -> None:
    """The approver reads what will happen, including where the link goes."""
    assert unleash.describe("reset", ANN) == (
        "Issue Ann Lee <ann@x.com> an Unleash password-reset link "
        "(sent privately, by direct message)"
    )
    assert [a.name for a in unleash.actions] == ["reset"]
