"""The Mighty Networks client against every documented answer of its Admin API."""

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
    UnexpectedResponse,
)
from tests.providers.provider_fakes import MN_TOKEN, FakeApi, reply

NET = "/admin/v1/networks/acme"
BY_EMAIL = f"{NET}/members/by_email"
ANN = {
    "id": 1234567890123,
    "email": "ann@x.com",
    "first_name": "Ann",
    "last_name": "Lee",
    "member_type": "member",
}
ANN_ACCOUNT = Account("1234567890123", "ann@x.com", "Ann Lee")
RESET = f"{NET}/members/1234567890123/password_resets"


@pytest.fixture
def mn(api: FakeApi, make_provider: Callable[..., Provider[Any]]) -> Provider[Any]:
    return make_provider("mighty_networks", api.transport)


class TestResolve:
    def test_email_is_looked_up_with_the_bearer_token(
        self, mn: Provider[Any], api: FakeApi
    ) -> None:
        """An e-mail resolves through by_email to the member's id, e-mail and name."""
        api.on("GET", BY_EMAIL, reply(200, ANN))
        assert mn.resolve(" Ann@X.com ") == Account("1234567890123", "ann@x.com", "Ann Lee")
        request = api.requests[0]
        assert request.url.params["email"] == "Ann@X.com"
        assert request.headers["Authorization"] == f"Bearer {MN_TOKEN}"

    def test_unknown_email_is_not_found(self, mn: Provider[Any], api: FakeApi) -> None:
        """A 404 with only an `error` field says the member was not found."""
        api.on("GET", BY_EMAIL, reply(404, {"error": "Member not found"}))
        with pytest.raises(
            NotFound,
            match=r"Mighty Networks says the member with e-mail "
            r"zed@x\.com was not found",
        ):
            mn.resolve("zed@x.com")

    def test_member_id_is_looked_up(self, mn: Provider[Any], api: FakeApi) -> None:
        """A uint64 member id is looked up (GET members/{id}/), so the approver sees who it is."""
        big = "18446744073709551615"
        member = {"id": int(big), "email": "ann@x.com", "first_name": "Ann", "last_name": "Lee"}
        api.on("GET", f"{NET}/members/{big}/", reply(200, member))
        assert mn.resolve(big) == Account(big, "ann@x.com", "Ann Lee")
        assert [r.url.path for r in api.requests] == [f"{NET}/members/{big}/"]

    def test_unknown_member_id_is_not_found_at_the_look_up(
        self, mn: Provider[Any], api: FakeApi
    ) -> None:
        """A wrong id fails when it is typed, not as a 404 on the reset after approval."""
        api.on("GET", f"{NET}/members/42/", reply(404, {"error": "Member not found"}))
        with pytest.raises(NotFound, match="member 42"):
            mn.resolve("42")

    @pytest.mark.parametrize(
        "typed",
        ["", "   ", "0", "18446744073709551616", "-5", "12a", "ann@", "ann x@y.com", "١٢٣"],
    )
    def test_invalid_input_is_refused_before_any_request(
        self, mn: Provider[Any], api: FakeApi, typed: str
    ) -> None:
        """Neither an e-mail nor a uint64 id: BadInput, nothing sent."""
        with pytest.raises(BadInput):
            mn.resolve(typed)
        assert api.requests == []

    def test_member_without_id_is_unexpected(self, mn: Provider[Any], api: FakeApi) -> None:
        """A 200 body without `id` cannot be used."""
        api.on("GET", BY_EMAIL, reply(200, {"email": "ann@x.com"}))
        with pytest.raises(UnexpectedResponse, match="without a valid member id"):
            mn.resolve("ann@x.com")

    def test_a_different_member_is_never_accepted(self, mn: Provider[Any], api: FakeApi) -> None:
        """If the look-up answers with someone else, nobody is resolved."""
        api.on("GET", BY_EMAIL, reply(200, {**ANN, "email": "bob@x.com"}))
        with pytest.raises(UnexpectedResponse, match="different member"):
            mn.resolve("ann@x.com")

    def test_html_page_on_look_up_is_unexpected(self, mn: Provider[Any], api: FakeApi) -> None:
        """A 200 HTML page instead of a member is an UnexpectedResponse."""
        api.on(
            "GET",
            BY_EMAIL,
            reply(200, text="<html>hi</html>", headers={"Content-Type": "text/html"}),
        )
        with pytest.raises(UnexpectedResponse, match="HTML"):
            mn.resolve("ann@x.com")

    @pytest.mark.parametrize(
        ("body", "error", "words"),
        [
            ({"error": "unauthorized"}, BadCredentials, "refused the token: check `token`"),
            (
                {"error": "token_expired", "message": "Token expired", "status": 401},
                BadCredentials,
                "token has expired",
            ),
            ({"error": "unauthorized"}, BadCredentials, "provider 'community'"),
        ],
    )
    def test_401_bodies_name_the_problem(
        self,
        mn: Provider[Any],
        api: FakeApi,
        body: dict[str, Any],
        error: type[Exception],
        words: str,
    ) -> None:
        """401 unauthorized and token_expired are told apart."""
        api.on("GET", BY_EMAIL, reply(401, body))
        with pytest.raises(error, match=words):
            mn.resolve("ann@x.com")

    def test_403_explains_the_network_scope(self, mn: Provider[Any], api: FakeApi) -> None:
        """A 403 forbidden mentions that a key works for its own network only."""
        api.on("GET", BY_EMAIL, reply(403, {"error": "forbidden"}))
        with pytest.raises(InsufficientPermission, match="own network"):
            mn.resolve("ann@x.com")


class TestReset:
    def test_204_sends_the_reset_email(self, mn: Provider[Any], api: FakeApi) -> None:
        """The documented 204 means the e-mail was sent; no secret is involved."""
        api.on("POST", RESET, reply(204))
        result = mn.perform("reset", ANN_ACCOUNT)
        assert result.summary == (
            "Mighty Networks sent a password-reset e-mail to Ann Lee <ann@x.com>."
        )
        assert result.secret is None
        assert result.details["member_id"] == "1234567890123"
        assert api.requests[0].content == b""

    def test_subdomain_or_numeric_network_id_is_used_in_the_path(
        self, api: FakeApi, make_provider: Callable[..., Provider[Any]]
    ) -> None:
        """network_id may be the numeric id."""
        mn = make_provider("mighty_networks", api.transport, network_id="4711")
        api.on("POST", "/admin/v1/networks/4711/members/5/password_resets", reply(204))
        mn.perform("reset", Account("5"))
        assert len(api.requests) == 1

    def test_unknown_member_is_not_found(self, mn: Provider[Any], api: FakeApi) -> None:
        """404 {error} on the reset is NotFound, naming the member."""
        api.on("POST", RESET, reply(404, {"error": "Member not found"}))
        with pytest.raises(NotFound, match="member 1234567890123"):
            mn.perform("reset", ANN_ACCOUNT)

    def test_invalid_member_id_is_refused_before_sending(
        self, mn: Provider[Any], api: FakeApi
    ) -> None:
        """An account id that is no uint64 is never put into a URL."""
        with pytest.raises(BadInput):
            mn.perform("reset", Account("../../me"))
        assert api.requests == []

    @pytest.mark.parametrize(
        "answer",
        [
            reply(200, text="<html>login</html>"),
            reply(200, {"error": "oops"}),
            reply(200, {"status": "queued"}),
            reply(200, text="{broken"),
        ],
        ids=["html", "error-body", "unexpected-json", "invalid-json"],
    )
    def test_2xx_with_a_body_leaves_the_outcome_unknown(
        self, mn: Provider[Any], api: FakeApi, answer: httpx.Response
    ) -> None:
        """Anything but an empty 2xx makes it unclear whether the e-mail went out."""
        api.on("POST", RESET, answer)
        with pytest.raises(OutcomeUnknown):
            mn.perform("reset", ANN_ACCOUNT)

    def test_rate_limit_is_retried_after_the_wait(
        self, mn: Provider[Any], api: FakeApi, sleeps: Any
    ) -> None:
        """429 with Retry-After is waited out and retried: it certainly did not act."""
        api.on(
            "POST",
            RESET,
            reply(429, {"error": "rate_limited"}, headers={"Retry-After": "2"}),
            reply(204),
        )
        mn.perform("reset", ANN_ACCOUNT)
        assert sleeps.waits == [2.0] and len(api.requests) == 2

    def test_rate_limit_without_retry_after_backs_off_then_gives_up(
        self, mn: Provider[Any], api: FakeApi
    ) -> None:
        """A persistent 429 ends as RateLimited after the bounded retries."""
        api.on("POST", RESET, reply(429, {"error": "rate_limited"}))
        with pytest.raises(RateLimited) as info:
            mn.perform("reset", ANN_ACCOUNT)
        assert info.value.retry_after is None and len(api.requests) == 3

    def test_unknown_action_is_bad_input(self, mn: Provider[Any], api: FakeApi) -> None:
        """Only `reset` exists."""
        with pytest.raises(BadInput, match="`reset`"):
            mn.perform("allow", ANN_ACCOUNT)
        assert api.requests == []


class TestWords:
    def test_single_reset_action(self, mn: Provider[Any]) -> None:
        """Mighty Networks offers exactly one action, `reset`, the default."""
        assert [a.name for a in mn.actions] == ["reset"] and mn.default_action == "reset"
        assert (mn.kind, mn.title) == ("mighty_networks", "Mighty Networks")

    def test_describe_names_the_person(self, mn: Provider[Any]) -> None:
        """The action in plain words."""
        assert mn.describe("reset", Account("1", "ann@x.com", "Ann Lee")) == (
            "Send Ann Lee <ann@x.com> a Mighty Networks password-reset e-mail"
        )
        assert mn.describe("reset", Account("42")) == (
            "Send member 42 a Mighty Networks password-reset e-mail"
        )

    def test_describe_unknown_action_is_a_value_error(self, mn: Provider[Any]) -> None:
        """The Slack side catches ValueError for actions that no longer exist."""
        with pytest.raises(ValueError, match="offers `reset`"):
            mn.describe("revoke", Account("1"))


class TestCredentials:
    def test_me_confirms_the_token(self, mn: Provider[Any], api: FakeApi) -> None:
        """GET me with user and network means the token works."""
        api.on(
            "GET",
            f"{NET}/me",
            reply(200, {"user": {"id": 1, "admin": True}, "network": {"title": "Acme"}}),
        )
        check = mn.check_credentials()
        assert check.ok and "Acme" in check.detail

    def test_token_of_a_non_admin_fails_the_check(self, mn: Provider[Any], api: FakeApi) -> None:
        """/me says whether the token's user is an admin: a non-admin's token is not enough."""
        me = {"user": {"id": 1, "email": "bo@x.com", "admin": False}, "network": {"title": "A"}}
        api.on("GET", f"{NET}/me", reply(200, me))
        check = mn.check_credentials()
        assert not check.ok and "not an admin" in check.detail
        assert len(check.shortfalls) == 1 and "as an admin" in check.shortfalls[0]

    @pytest.mark.parametrize(
        ("status", "body"),
        [
            (401, {"error": "token_expired"}),
            (403, {"error": "forbidden"}),
            (404, {"error": "not found"}),
        ],
    )
    def test_refusals_are_reported_not_raised(
        self, mn: Provider[Any], api: FakeApi, status: int, body: dict[str, str]
    ) -> None:
        """Bad token, wrong network: ok=False with the reason."""
        api.on("GET", f"{NET}/me", reply(status, body))
        check = mn.check_credentials()
        assert not check.ok and "provider 'community'" in check.detail

    def test_me_without_user_is_not_ok(self, mn: Provider[Any], api: FakeApi) -> None:
        """A 200 that does not say who the token is proves nothing."""
        api.on("GET", f"{NET}/me", reply(200, {"network": {}}))
        assert not mn.check_credentials().ok
