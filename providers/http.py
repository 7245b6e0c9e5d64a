"""Shared HTTP plumbing of the provider clients: timeouts, bounded retries, error translation."""

from __future__ import annotations

import email.utils
import logging
import math
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn

import httpcore
import httpx

from providers.base import (
    BadCredentials,
    BadInput,
    Conflict,
    InsufficientPermission,
    NotFound,
    OutcomeUnknown,
    ProviderError,
    RateLimited,
    Unavailable,
    UnexpectedResponse,
)

log = logging.getLogger(__name__)

Op = Literal["read", "action"]

# Connection never established: the provider cannot have seen the request, so a retry is safe.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures before anything left this machine that a retry would not fix.
_NEVER_SENT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)
_DETAIL_FIELDS = ("message", "Message", "error", "detail", "error_description")
_QUERY_SECRET = re.compile(r"(?i)\b(token|key|password|secret|code|signature)=[^&\s\"'<>]+")
_DETAIL_LIMIT = 160
# A long run mixing letters and digits is treated as a secret the client does not know of
# (another user's key, a password the provider echoes): provider text is shown without it.
_SECRET_LIKE = re.compile(r"\S{16,}")


DEFAULT_CALL_DEADLINE = 30.0
_call_deadline = [DEFAULT_CALL_DEADLINE]


def set_call_deadline(seconds: float) -> None:
    """Every provider call from now on ends within ``seconds``, retries and waits included
    (``provider_call_deadline_seconds``; the composition root sets it from the settings)."""
    _call_deadline[0] = seconds


# When the call on this thread must be over (time.monotonic()); None outside a call.
_ends = threading.local()


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the call's deadline: httpx's own
    time-outs are per read, so a provider sending a byte at a time would never trip them."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    @staticmethod
    def _left(timeout: float | None) -> float | None:
        ends: float | None = getattr(_ends, "at", None)
        if ends is None:
            return timeout
        left = ends - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the call's deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, self._left(timeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _DeadlineStream._left(timeout)
        return _DeadlineStream(
            self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        )

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _deadline_transport() -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport()
    pool = transport._pool  # httpx offers no other way to give httpcore a network backend
    pool._network_backend = _DeadlineBackend(pool._network_backend)
    return transport


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to wait before repeating a request the provider did not act on."""

    max_retries: int = 2
    base_delay: float = 0.5  # first back-off; doubles each attempt
    max_delay: float = 8.0
    # A longer Retry-After is not waited for: the error (with its wait) goes back to the person.
    max_wait: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def backoff(self, attempt: int) -> float:
        return float(min(self.base_delay * (2**attempt), self.max_delay))


@dataclass(frozen=True, slots=True)
class Call:
    """One request as a client describes it: what it is for, and whose credential it carries."""

    method: str
    path: str
    op: Op
    what: str  # an infinitive for messages: "look up the member", "send the reset e-mail"
    target: str = "the account"  # what a 404 means was not found: "member 42", "ann@x.com"
    credential: str | None = "token"  # the settings key whose secret authenticates the call
    params: Mapping[str, str] | None = None
    json: Any = None
    # Values this one request carries that must never surface (a generated password).
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """A provider's answer: the response and its JSON body (``None`` when it has none)."""

    response: httpx.Response
    data: Any = None
    is_json: bool = False

    @property
    def status_code(self) -> int:
        return self.response.status_code

    def field(self, *names: str) -> str | None:
        """The first string among ``names`` in a JSON object body, else None."""
        if isinstance(self.data, dict):
            for name in names:
                value = self.data.get(name)
                if isinstance(value, str) and value.strip():
                    return value
        return None


def parse_body(response: httpx.Response) -> tuple[Any, bool]:
    """The JSON body, defensively: HTML error pages and broken JSON give ``(None, False)``."""
    content = response.content
    if not content.strip():
        return None, False
    try:
        return response.json(), True
    except (ValueError, UnicodeDecodeError):
        return None, False


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


ErrorHook = Callable[[Call, Reply], ProviderError | None]


@dataclass
class HttpClient:
    """One pooled ``httpx.Client`` for a provider instance, and the only place errors are made.

    ``auth`` maps each credential's settings key to the headers that carry it. ``classify`` lets
    a client name a vendor's particular answers (Unleash's 429, Tyk's 403) before the generic
    status mapping applies.
    """

    title: str
    instance: str
    base_url: str
    auth: Mapping[str, Mapping[str, str]]
    timeout: float
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    transport: httpx.BaseTransport | None = None
    classify: ErrorHook | None = None
    #: seconds one ``send`` may take, retries and waits included (None: set_call_deadline's)
    deadline: float | None = None
    client: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(self.timeout),
            transport=self.transport if self.transport is not None else _deadline_transport(),
            headers={"Accept": "application/json", "User-Agent": "resetbot"},
            follow_redirects=False,
        )

    @property
    def where(self) -> str:
        return f"provider '{self.instance}'"

    def close(self) -> None:
        self.client.close()

    def send(self, call: Call) -> Reply:
        """Send ``call``; return its 2xx reply or raise the matching ProviderError.

        Retried (bounded, backing off, honouring Retry-After) only when the provider certainly
        did not act on it: no connection, 429, 503.
        """
        budget = self.deadline if self.deadline is not None else _call_deadline[0]
        ends = time.monotonic() + budget
        outer = getattr(_ends, "at", None)
        _ends.at = ends if outer is None else min(ends, outer)
        try:
            return self._send(call, ends, budget)
        finally:
            _ends.at = outer

    def _send(self, call: Call, ends: float, budget: float) -> Reply:
        headers = dict(self.auth[call.credential]) if call.credential else {}
        attempt = 0
        while True:
            cause: BaseException | None = None
            wait: float | None
            try:
                response = self.client.request(
                    call.method, call.path, params=call.params, json=call.json, headers=headers
                )
            except _NOT_SENT as exc:
                cause = exc
                error: ProviderError = Unavailable(
                    f"Could not connect to {self.title} ({self.where}): "
                    f"{_describe_transport(exc)}. Nothing was done."
                )
                wait = self.retry.backoff(attempt)
            except _NEVER_SENT as exc:
                raise Unavailable(
                    f"Could not send the request to {self.title} ({self.where}): "
                    f"{_describe_transport(exc)}; check `base_url`. Nothing was done."
                ) from exc
            except httpx.TransportError as exc:
                overdue = time.monotonic() >= ends - 0.01
                raise self._lost(call, exc, within=budget if overdue else None) from exc
            else:
                data, is_json = parse_body(response)
                reply = Reply(response, data, is_json)
                if response.is_success:
                    return reply
                error = self._error_for(call, reply)
                wait = self._retry_wait(error, reply, attempt)
            past_deadline = wait is not None and time.monotonic() + wait >= ends
            if past_deadline and cause is not None and call.op == "read":
                error = Unavailable(
                    f"{self.title} ({self.where}) could not be reached within "
                    f"{_seconds(budget)} when asked to {call.what}. Nothing was changed; "
                    "try again later."
                )
            if (
                wait is None
                or past_deadline
                or attempt >= self.retry.max_retries
                or wait > self.retry.max_wait
            ):
                log.info("%s: %s %s failed: %s", self.where, call.method, call.path, error.kind)
                if cause is not None:
                    raise error from cause
                raise error
            log.info(
                "%s: %s %s got %s; retry %d of %d in %.1f s",
                self.where,
                call.method,
                call.path,
                error.kind,
                attempt + 1,
                self.retry.max_retries,
                wait,
            )
            self.retry.sleep(wait)
            attempt += 1

    def _retry_wait(self, error: ProviderError, reply: Reply, attempt: int) -> float | None:
        if reply.status_code not in (429, 503):
            return None
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return error.retry_after
        header = parse_retry_after(reply.response.headers.get("Retry-After"))
        return header if header is not None else self.retry.backoff(attempt)

    def _lost(
        self, call: Call, exc: httpx.TransportError, *, within: float | None = None
    ) -> ProviderError:
        """The request may have reached the provider, and no usable answer came back."""
        how = (
            f"no complete answer within {_seconds(within)}"
            if within is not None
            else _describe_transport(exc)
        )
        if call.op == "action":
            return OutcomeUnknown(
                f"{self.title} ({self.where}) did not answer ({how}) after the request to "
                f"{call.what} was sent: it may or may not have happened. Check at "
                f"{self.title} before trying again."
            )
        return Unavailable(
            f"{self.title} ({self.where}) did not answer ({how}) when asked to {call.what}. "
            "Nothing was changed; try again later."
        )

    def _error_for(self, call: Call, reply: Reply) -> ProviderError:
        error = self.classify(call, reply) if self.classify else None
        if error is None:
            error = self._generic_error(call, reply)
        error.status_code = reply.status_code
        error.response = reply.response
        return error

    def _generic_error(self, call: Call, reply: Reply) -> ProviderError:
        status = reply.status_code
        cred = call.credential or "credentials"
        cred_words = cred.replace("_", " ")
        if status == 401:
            return BadCredentials(
                f"{self.title} refused the {cred_words}: check `{cred}` for {self.where}."
            )
        if status == 403:
            return InsufficientPermission(
                f"{self.title} accepted the {cred_words} but refused to {call.what}: the account "
                f"behind `{cred}` for {self.where} lacks the rights."
            )
        if status == 404:
            return NotFound(f"{self.title} says {call.target} was not found ({self.where}).")
        if status in (400, 422):
            return BadInput(
                f"{self.title} rejected the request to {call.what} as invalid"
                f"{self.detail(reply, call)} ({self.where})."
            )
        if status == 409:
            return Conflict(
                f"{self.title} refused to {call.what}: it conflicts with the account's current "
                f"state{self.detail(reply, call)} ({self.where})."
            )
        if status == 429:
            retry_after = parse_retry_after(reply.response.headers.get("Retry-After"))
            wait = f" for {_seconds(retry_after)}" if retry_after is not None else ""
            return RateLimited(
                f"{self.title} is limiting how often the bot may call it{wait}; nothing was "
                f"done, try again later ({self.where}).",
                retry_after=retry_after,
            )
        if status == 503:
            return Unavailable(
                f"{self.title} is temporarily unavailable (HTTP 503); nothing was done, try "
                f"again later ({self.where})."
            )
        if status >= 500:
            return self.unexpected(
                call,
                reply,
                f"answered HTTP {status} ({_kind_of_body(reply)})",
                read_error=Unavailable,
            )
        if 300 <= status < 400:
            return self.unexpected(
                call,
                reply,
                f"redirected the request (HTTP {status}); check `base_url`",
                certainly_not_acted=True,
            )
        return self.unexpected(
            call,
            reply,
            f"refused the request with HTTP {status}{self.detail(reply, call)}",
            certainly_not_acted=True,
        )

    def unexpected(
        self,
        call: Call,
        reply: Reply | None,
        what_happened: str,
        *,
        read_error: type[ProviderError] = UnexpectedResponse,
        certainly_not_acted: bool = False,
    ) -> ProviderError:
        """An answer that makes no sense: for an action the outcome is unknown."""
        response = reply.response if reply is not None else None
        status = reply.status_code if reply is not None else None
        if call.op == "action" and not certainly_not_acted:
            return OutcomeUnknown(
                f"{self.title} {what_happened} when asked to {call.what}: it may or may not "
                f"have happened. Check at {self.title} before trying again ({self.where}).",
                status_code=status,
                response=response,
            )
        if call.op == "action":
            return UnexpectedResponse(
                f"{self.title} {what_happened} when asked to {call.what}; nothing was done "
                f"({self.where}).",
                status_code=status,
                response=response,
            )
        return read_error(
            f"{self.title} {what_happened} when asked to {call.what} ({self.where}).",
            status_code=status,
            response=response,
        )

    def expect_object(self, call: Call, reply: Reply) -> dict[str, Any]:
        """The reply's JSON object, or the error fitting the call (unknown outcome for actions)."""
        if isinstance(reply.data, dict):
            return reply.data
        self._unexpected_body(call, reply, "an object")

    def expect_list(self, call: Call, reply: Reply, key: str | None = None) -> list[Any]:
        """The reply's JSON list (or the list under ``key``), or the error fitting the call."""
        data = reply.data
        if key is not None:
            data = data.get(key) if isinstance(data, dict) else None
        if isinstance(data, list):
            return data
        self._unexpected_body(call, reply, "a list")

    def _unexpected_body(self, call: Call, reply: Reply, wanted: str) -> NoReturn:
        raise self.unexpected(
            call,
            reply,
            f"answered HTTP {reply.status_code} with {_kind_of_body(reply)} instead of {wanted}",
        )

    def detail(self, reply: Reply, call: Call | None = None) -> str:
        """The provider's own error message as a short, secret-free suffix (or nothing)."""
        text = reply.field(*_DETAIL_FIELDS)
        if text is None:
            return ""
        text = self.redact(text, call.secrets if call else ())
        text = " ".join(text.split())
        if len(text) > _DETAIL_LIMIT:
            text = text[: _DETAIL_LIMIT - 1] + "…"
        return f": “{text}”"

    def redact(self, text: str, extra: Iterable[str] = ()) -> str:
        """``text`` without any credential of this instance or query-string secret."""
        for secret in (*self._secret_values(), *extra):
            if secret:
                text = text.replace(secret, "[redacted]")
        text = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}=[redacted]", text)
        return _SECRET_LIKE.sub(_redact_secret_like, text)

    def _secret_values(self) -> Iterable[str]:
        for headers in self.auth.values():
            for value in headers.values():
                yield value
                # "Bearer x" / "APIToken x": the bare secret may be echoed too.
                yield value.split(" ", 1)[-1]


def _redact_secret_like(match: re.Match[str]) -> str:
    word = match.group(0)
    if any(c.isdigit() for c in word) and any(c.isalpha() for c in word):
        return "[redacted]"
    return word


def _describe_transport(exc: httpx.TransportError) -> str:
    """A few human words for a transport failure; never the URL or the exception's arguments."""
    kinds: tuple[tuple[type[httpx.TransportError], str], ...] = (
        (httpx.ConnectTimeout, "connection timed out"),
        (httpx.ConnectError, "connection refused or host unreachable"),
        (httpx.PoolTimeout, "no free connection in time"),
        (httpx.ReadTimeout, "timed out waiting for the answer"),
        (httpx.WriteTimeout, "timed out sending the request"),
        (httpx.RemoteProtocolError, "connection closed without a complete answer"),
        (httpx.ReadError, "connection reset while reading the answer"),
        (httpx.WriteError, "connection broke while sending the request"),
        (httpx.UnsupportedProtocol, "the address is not an http(s) URL"),
        (httpx.ProxyError, "the proxy refused the connection"),
    )
    for kind, words in kinds:
        if isinstance(exc, kind):
            return words
    return type(exc).__name__


def _kind_of_body(reply: Reply) -> str:
    if not reply.response.content.strip():
        return "no body"
    if not reply.is_json:
        ctype = reply.response.headers.get("Content-Type", "")
        return "an HTML page" if "html" in ctype.lower() else "a body that is not JSON"
    return "an unexpected JSON body"


def _seconds(value: float) -> str:
    whole = math.ceil(value)
    return "1 second" if whole == 1 else f"{whole} seconds"


class _RedactQueryStrings(logging.Filter):
    """httpx logs each request's full URL at INFO; a query may carry a reset token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_without_query(arg) for arg in record.args)
        return True


def _without_query(value: object) -> object:
    if isinstance(value, httpx.URL) and value.query:
        return str(value.copy_with(query=None)) + "?[query redacted]"
    return value


def install_log_redaction() -> None:
    """Make httpx's own request log line safe; idempotent."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactQueryStrings) for f in logger.filters):
        logger.addFilter(_RedactQueryStrings())


install_log_redaction()
