"""Provider clients and the Slack Web API client, observed for metrics at the composition root."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import SlackResponse, WebClient

from bot import metrics
from providers.base import (
    Account,
    ActionResult,
    ActionSpec,
    CredentialCheck,
    Provider,
    ProviderError,
)

T = TypeVar("T")


class ObservedProvider(Provider[Any]):
    """``inner`` with each call timed into ``resetbot_provider_call_seconds``."""

    def __init__(self, inner: Provider[Any]) -> None:
        super().__init__(name=inner.name, settings=inner.settings, transport=inner.transport)
        self.inner = inner
        self._label = metrics.provider_label(inner.name)
        self._actions = {spec.name for spec in inner.actions}

    def _timed(self, action: str, call: Callable[[], T]) -> T:
        label = action if action in self._actions or action in _OWN_CALLS else metrics.OTHER
        started = time.perf_counter()
        outcome = "ok"
        try:
            return call()
        except ProviderError as exc:
            outcome = exc.kind
            metrics.PROVIDER_ERRORS.labels(self._label, exc.kind).inc()
            raise
        except Exception:
            outcome = "error"
            metrics.PROVIDER_ERRORS.labels(self._label, "error").inc()
            raise
        finally:
            metrics.PROVIDER_CALL_SECONDS.labels(self._label, label, outcome).observe(
                time.perf_counter() - started
            )

    @property
    def actions(self) -> tuple[ActionSpec, ...]:
        return self.inner.actions

    @property
    def default_action(self) -> str:
        return self.inner.default_action

    def resolve(self, user: str) -> Account:
        return self._timed("resolve", lambda: self.inner.resolve(user))

    def perform(self, action: str, account: Account) -> ActionResult:
        return self._timed(action, lambda: self.inner.perform(action, account))

    def describe(self, action: str, account: Account) -> str:
        return self.inner.describe(action, account)

    def check_credentials(self) -> CredentialCheck:
        return self._timed("check_credentials", self.inner.check_credentials)

    def close(self) -> None:
        self.inner.close()


_OWN_CALLS = frozenset({"resolve", "check_credentials"})


def observed(providers: Mapping[str, Provider[Any]]) -> dict[str, Provider[Any]]:
    """Each provider wrapped; the instance names become the ``provider`` label's values."""
    metrics.set_providers(providers)
    wrapped: dict[str, Provider[Any]] = {}
    for name, inner in providers.items():
        cls = type(
            f"Observed{type(inner).__name__}",
            (ObservedProvider,),
            {"kind": inner.kind, "title": inner.title},
        )
        wrapped[name] = cls(inner)
    return wrapped


def slack_method(url: str) -> str:
    """The Web API method a request URL names (``chat.postMessage``); bounded by our own calls."""
    method = urlsplit(url).path.rsplit("/", 1)[-1]
    return method if method.replace(".", "").isalnum() and len(method) <= 64 else metrics.OTHER


class CountedRetries(RetryHandler):
    """Wraps one of slack_sdk's retry handlers: the same decisions, each retry counted."""

    def __init__(self, inner: RetryHandler, reason: str) -> None:
        super().__init__(
            max_retry_count=inner.max_retry_count, interval_calculator=inner.interval_calculator
        )
        self.inner = inner
        self.reason = reason

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return self.inner.can_retry(state=state, request=request, response=response, error=error)

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        metrics.SLACK_API_RETRIES.labels(slack_method(request.url), self.reason).inc()
        self.inner.prepare_for_next_attempt(
            state=state, request=request, response=response, error=error
        )


class CountedWebClient(WebClient):
    """slack_sdk's WebClient, counting the calls that fail after their retries by method."""

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        try:
            return super().api_call(api_method, **kwargs)
        except (SlackApiError, SlackClientError, OSError):
            metrics.SLACK_API_ERRORS.labels(slack_method(api_method)).inc()
            raise
