"""Assembling the Bolt app: its Web API client, middleware and listener groups."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.config import Settings
from bot.observed import CountedRetries, CountedWebClient
from bot.slack.deps import ListenerDeps
from bot.slack.listeners import actions, commands, views

log = logging.getLogger(__name__)

RETRY_AFTER_CAP = 60  # seconds: a longer Retry-After is not waited for; the call fails at once


def retry_after(response: HttpResponse | None) -> float | None:
    """The ``Retry-After`` of a 429 in seconds (1 if missing or unreadable); None otherwise."""
    if response is None or response.status_code != 429:
        return None
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) and values else values
            try:
                return max(float(str(value).strip()), 0.0)
            except ValueError:
                return 1.0
    return 1.0


class CappedRateLimitRetries(RateLimitErrorRetryHandler):
    """slack_sdk's 429 retries, but a ``Retry-After`` above ``RETRY_AFTER_CAP`` is not waited
    for: the call fails at once and the caller's failure path runs (a filing whose approval
    message cannot be posted is cancelled, its requester told), instead of a thread asleep
    for an hour with the request pending."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        wait = retry_after(response)
        return wait is not None and wait <= RETRY_AFTER_CAP

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        time.sleep(min(retry_after(response) or 1.0, RETRY_AFTER_CAP) + random.random())
        state.increment_current_attempt()


def make_web_client(settings: Settings, *, in_listener: bool = False) -> WebClient:
    """The Web API client; ``in_listener``: for the calls a listener makes before its ack goes
    out (``views.open`` on a trigger that lives 3 s): a short time-out and no retries, which
    could only hold the ack past Slack's deadline."""
    token = settings.slack.bot_token.get_secret_value() if settings.slack.bot_token else None
    # slack_sdk's DEBUG lines carry whole request and response bodies, the requester's secret
    # DM among them: its logger is pinned at INFO, whatever level the root logger runs at.
    api_log = logging.getLogger("resetbot.slack.web")
    api_log.setLevel(logging.INFO)
    return CountedWebClient(
        token=token,
        base_url=str(settings.slack.api_url),
        timeout=2 if in_listener else 10,
        logger=api_log,
        retry_handlers=[]
        if in_listener
        else [
            CountedRetries(ConnectionErrorRetryHandler(max_retry_count=2), "connection"),
            CountedRetries(CappedRateLimitRetries(max_retry_count=3), "rate_limited"),
            CountedRetries(ServerErrorRetryHandler(max_retry_count=2), "server_error"),
        ],
    )


class _DropRetries(Middleware):
    """Our acks are immediate, so a Slack retry is a duplicate delivery: never act twice.

    A ``Middleware`` subclass rather than a function: Bolt inspects a function middleware's
    signature on every request, which cost more than this check."""

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        attempt = _first(req.headers.get("x-slack-retry-num"))
        # Socket Mode puts every envelope's retry_attempt here, so a first delivery reads "0".
        if attempt not in ("", "0"):
            log.info(
                "ignoring Slack retry %s (%s)",
                attempt,
                _first(req.headers.get("x-slack-retry-reason")),
            )
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        return next()


def _first(value: Any) -> str:
    """A header as Bolt keeps it (a list of values, or one value) → its first value."""
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    return str(value or "").strip()


class _NotOurToken(logging.Filter):
    """Bolt also reads SLACK_BOT_TOKEN from the environment and then warns that our client's
    token wins: it is the same token, so the warning would only alarm operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger("resetbot.bolt")
    if not any(isinstance(f, _NotOurToken) for f in logger.filters):
        logger.addFilter(_NotOurToken())
    return logger


def build_app(
    settings: Settings, deps: ListenerDeps, client: WebClient, *, token_verification: bool = True
) -> App:
    """The Bolt app with every listener registered; ``client`` is the one Bolt itself uses."""
    secret = settings.slack.signing_secret
    app = App(
        client=client,
        signing_secret=secret.get_secret_value() if secret else None,
        token_verification_enabled=token_verification,
        # Listeners only parse, check, ack and hand slow work to the background, so they run
        # on the request's own thread and the response goes out the moment they return (Bolt's
        # default hands them to another thread and polls for the ack every 10 ms).
        process_before_response=True,
        logger=_bolt_logger(),
    )
    app.use(_DropRetries())

    @app.error
    def on_error(error: Exception) -> None:
        log.error("unhandled error in a listener: %s", type(error).__name__, exc_info=error)

    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
    return app
