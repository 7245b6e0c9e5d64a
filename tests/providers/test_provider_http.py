"""The shared HTTP plumbing: which failures are retried, and what each one becomes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from providers.base import (
    BadCredentials,
    BadInput,
    Conflict,
    InsufficientPermission,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    Unavailable,
    UnexpectedResponse,
)
from providers.http import Call, HttpClient, RetryPolicy, parse_retry_after
from tests.providers.provider_fakes import FakeApi, Sleeps, reply

SECRET = "plumbing-SECRET-77"  # noqa: S105 - a fake
READ = Call("GET", "/thing", "read", what="look up the thing", target="thing 7")
ACTION = Call("POST", "/thing/reset", "action", what="reset the thing", target="thing 7")


@pytest.fixture
def client(api: FakeApi, sleeps: Sleeps) -> Iterator[HttpClient]:
    http = HttpClient(
        title="Acme",
        instance="acme-prod",
        base_url="https://acme.test/api/",
        auth={"token": {"Authorization": f"Bearer {SECRET}"}},
        timeout=1.0,
        retry=RetryPolicy(max_retries=2, base_delay=0.01, max_wait=5.0, sleep=sleeps),
        transport=api.transport,
    )
    yield http
    http.close()


class TestRetries:
    def test_connection_refused_is_retried_then_reported_unavailable(
        self, client: HttpClient, api: FakeApi, sleeps: Sleeps
    ) -> None:
        """A refused connection is tried 1 + max_retries times, then Unavailable."""
        api.on("POST", "/api/thing/reset", httpx.ConnectError("refused"))
        with pytest.raises(Unavailable, match="Nothing was done") as info:
            client.send(ACTION)
        assert len(api.requests) == 3
        assert sleeps.waits == [0.01, 0.02]
        assert isinstance(info.value.__cause__, httpx.ConnectError)

    def test_connect_timeout_then_success_returns_the_answer(
        self, client: HttpClient, api: FakeApi
    ) -> None:
        """An action whose connection timed out is safe to repeat, and succeeds."""
        api.on("POST", "/api/thing/reset", httpx.ConnectTimeout("slow"), reply(204))
        assert client.send(ACTION).status_code == 204
        assert len(api.requests) == 2

    def test_429_waits_for_retry_after_seconds(
        self, client: HttpClient, api: FakeApi, sleeps: Sleeps
    ) -> None:
        """A 429 with Retry-After: 3 waits 3 s before the retry."""
        api.on("POST", "/api/thing/reset", reply(429, headers={"Retry-After": "3"}), reply(204))
        client.send(ACTION)
        assert sleeps.waits == [3.0]

    def test_503_with_http_date_retry_after_is_honoured(
        self, client: HttpClient, api: FakeApi, sleeps: Sleeps
    ) -> None:
        """Retry-After as an HTTP date is turned into seconds."""
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
        api.on("GET", "/api/thing", reply(503, headers={"Retry-After": when}), reply(200, {}))
        client.send(READ)
        assert len(sleeps.waits) == 1 and 0.0 <= sleeps.waits[0] <= 2.0

    def test_429_beyond_the_wait_budget_is_raised_at_once_with_the_wait(
        self, client: HttpClient, api: FakeApi, sleeps: Sleeps
    ) -> None:
        """A Retry-After longer than max_wait is not slept: the person is told to wait."""
        api.on("GET", "/api/thing", reply(429, headers={"Retry-After": "120"}))
        with pytest.raises(RateLimited) as info:
            client.send(READ)
        assert info.value.retry_after == 120.0
        assert "120 seconds" in str(info.value)
        assert sleeps.waits == [] and len(api.requests) == 1

    def test_persistent_503_gives_up_after_max_retries(
        self, client: HttpClient, api: FakeApi
    ) -> None:
        """Retries are bounded: 503 forever ends as Unavailable after 3 attempts."""
        api.on("POST", "/api/thing/reset", reply(503, text="down"))
        with pytest.raises(Unavailable):
            client.send(ACTION)
        assert len(api.requests) == 3

    @pytest.mark.parametrize("status", [500, 502, 504])
    def test_server_errors_on_an_action_are_never_retried(
        self, client: HttpClient, api: FakeApi, status: int
    ) -> None:
        """A 5xx other than 503 after an action may mean it happened: one attempt, unknown."""
        api.on("POST", "/api/thing/reset", reply(status, {"message": "boom"}))
        with pytest.raises(OutcomeUnknown, match="may or may not have happened"):
            client.send(ACTION)
        assert len(api.requests) == 1

    def test_server_error_on_a_read_is_unavailable(self, client: HttpClient, api: FakeApi) -> None:
        """A 500 answering a look-up changes nothing: Unavailable, not retried."""
        api.on("GET", "/api/thing", reply(500))
        with pytest.raises(Unavailable):
            client.send(READ)
        assert len(api.requests) == 1

    @pytest.mark.parametrize(
        "exc",
        [
            httpx.ReadTimeout("slow"),
            httpx.WriteTimeout("slow"),
            httpx.ReadError("reset"),
            httpx.RemoteProtocolError("closed"),
            httpx.WriteError("broken"),
        ],
        ids=lambda e: type(e).__name__,
    )
    def test_lost_answer_after_sending_an_action_is_outcome_unknown(
        self, client: HttpClient, api: FakeApi, exc: Exception
    ) -> None:
        """Once an action may have been sent, a lost answer is never retried."""
        api.on("POST", "/api/thing/reset", exc)
        with pytest.raises(OutcomeUnknown) as info:
            client.send(ACTION)
        assert len(api.requests) == 1
        assert info.value.__cause__ is exc

    def test_read_timeout_on_a_look_up_is_unavailable(
        self, client: HttpClient, api: FakeApi
    ) -> None:
        """A look-up that timed out changed nothing: Unavailable."""
        api.on("GET", "/api/thing", httpx.ReadTimeout("slow"))
        with pytest.raises(Unavailable, match="did not answer"):
            client.send(READ)

    def test_zero_max_retries_tries_once(self, api: FakeApi, sleeps: Sleeps) -> None:
        """max_retries = 0 means exactly one attempt."""
        api.on("GET", "/thing", httpx.ConnectError("refused"))
        http = HttpClient(
            title="Acme",
            instance="a",
            base_url="https://acme.test",
            auth={},
            timeout=1.0,
            transport=api.transport,
            retry=RetryPolicy(max_retries=0, sleep=sleeps),
        )
        with pytest.raises(Unavailable):
            http.send(Call("GET", "/thing", "read", what="x", credential=None))
        assert len(api.requests) == 1 and sleeps.waits == []
        http.close()


class TestTranslation:
    @pytest.mark.parametrize(
        ("status", "error"),
        [
            (400, BadInput),
            (401, BadCredentials),
            (403, InsufficientPermission),
            (404, NotFound),
            (409, Conflict),
            (422, BadInput),
        ],
    )
    def test_status_codes_map_to_the_hierarchy(
        self, client: HttpClient, api: FakeApi, status: int, error: type[Exception]
    ) -> None:
        """Each documented status becomes its error kind, naming the instance."""
        api.on("POST", "/api/thing/reset", reply(status, {"message": "nope"}))
        with pytest.raises(error, match="acme-prod"):
            client.send(ACTION)

    def test_errors_keep_the_response_and_status(self, client: HttpClient, api: FakeApi) -> None:
        """The response is kept on the error so a failure can be explained later."""
        api.on("GET", "/api/thing", reply(404, {"error": "gone"}))
        with pytest.raises(NotFound) as info:
            client.send(READ)
        assert info.value.status_code == 404
        assert info.value.response is not None and info.value.response.status_code == 404

    def test_bad_credentials_names_the_settings_key(self, client: HttpClient, api: FakeApi) -> None:
        """A 401 tells the engineer which setting to check."""
        api.on("GET", "/api/thing", reply(401))
        with pytest.raises(BadCredentials, match="check `token` for provider 'acme-prod'"):
            client.send(READ)

    def test_html_error_page_is_described_not_parsed(
        self, client: HttpClient, api: FakeApi
    ) -> None:
        """A proxy's HTML 502 page is reported as such, without its content."""
        api.on(
            "GET",
            "/api/thing",
            reply(
                502,
                text="<html><body>Bad Gateway</body></html>",
                headers={"Content-Type": "text/html"},
            ),
        )
        with pytest.raises(Unavailable, match="an HTML page") as info:
            client.send(READ)
        assert "Bad Gateway" not in str(info.value)

    def test_provider_detail_is_quoted_but_secrets_are_redacted(
        self, client: HttpClient, api: FakeApi
    ) -> None:
        """A provider message echoing the token or a link's token is shown redacted."""
        api.on(
            "POST",
            "/api/thing/reset",
            reply(400, {"message": f"bad {SECRET} see https://x/reset?token=abc123 please"}),
        )
        with pytest.raises(BadInput) as info:
            client.send(ACTION)
        assert SECRET not in str(info.value) and "abc123" not in str(info.value)
        assert "[redacted]" in str(info.value)

    def test_redirect_is_unexpected_and_points_at_base_url(
        self, client: HttpClient, api: FakeApi
    ) -> None:
        """A 302 (e.g. to a login page) means the address is wrong; nothing was done."""
        api.on("POST", "/api/thing/reset", reply(302, headers={"Location": "/login"}))
        with pytest.raises(UnexpectedResponse, match="base_url"):
            client.send(ACTION)

    def test_unlisted_client_error_on_an_action_says_nothing_was_done(
        self, client: HttpClient, api: FakeApi
    ) -> None:
        """A 405 refusal is unexpected, but certainly did not act."""
        api.on("POST", "/api/thing/reset", reply(405))
        with pytest.raises(UnexpectedResponse, match="nothing was done"):
            client.send(ACTION)

    def test_invalid_json_on_a_read_is_unexpected(self, client: HttpClient, api: FakeApi) -> None:
        """A 200 whose body is not JSON is an UnexpectedResponse for a read."""
        api.on("GET", "/api/thing", reply(200, text="{not json"))
        with pytest.raises(UnexpectedResponse):
            client.expect_object(READ, client.send(READ))

    def test_invalid_json_on_an_action_is_outcome_unknown(
        self, client: HttpClient, api: FakeApi
    ) -> None:
        """A 200 whose body is not JSON leaves an action's outcome unknown."""
        api.on("POST", "/api/thing/reset", reply(200, text="{not json"))
        with pytest.raises(OutcomeUnknown):
            client.expect_object(ACTION, client.send(ACTION))

    def test_calls_without_credential_send_no_auth_header(
        self, client: HttpClient, api: FakeApi
    ) -> None:
        """credential=None sends no Authorization header at all."""
        api.on("GET", "/api/open", reply(200, {}))
        client.send(Call("GET", "/open", "read", what="x", credential=None))
        assert "Authorization" not in api.requests[0].headers

    def test_base_url_path_prefix_is_kept(self, client: HttpClient, api: FakeApi) -> None:
        """Paths are relative to base_url, including its own path."""
        api.on("GET", "/api/thing", reply(200, {}))
        client.send(READ)
        assert str(api.requests[0].url) == "https://acme.test/api/thing"


class TestRetryAfter:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("5", 5.0),
            ("0", 0.0),
            ("-3", 0.0),
            ("1.5", 1.5),
            ("", None),
            (None, None),
            ("soon", None),
            ("nan", None),
        ],
    )
    def test_parses_seconds_and_rejects_nonsense(
        self, value: str | None, expected: float | None
    ) -> None:
        """Delta-seconds are read; junk gives None."""
        assert parse_retry_after(value) == expected

    def test_parses_an_http_date(self) -> None:
        """An HTTP date becomes the seconds until then."""
        now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
        later = format_datetime(now + timedelta(seconds=30), usegmt=True)
        assert parse_retry_after(later, now=now) == 30.0


class TestLogging:
    def test_httpx_request_log_line_has_no_query_string(
        self, client: HttpClient, api: FakeApi, caplog: pytest.LogCaptureFixture
    ) -> None:
        """httpx's INFO line would show ?token=…; the filter strips the query."""
        caplog.set_level(logging.DEBUG)
        api.on("GET", "/api/check", reply(200, {}))
        client.send(Call("GET", "/check", "read", what="x", params={"token": "tok-SECRET-1"}))
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert "HTTP Request" in text
        assert "tok-SECRET-1" not in text
