"""No credential, reset link or temporary password in any log line, error message or repr."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from bot.demo.sandboxes import Sandbox
from bot.demo.sandboxes.server import Fault
from providers.base import ActionResult, CredentialCheck, Provider, ProviderError

KINDS = ["mighty_networks", "unleash", "f5xc", "tyk"]
STATUSES = [400, 401, 403, 404, 409, 415, 422, 429, 500, 502, 503, 504]
FAULTS: list[Fault] = ["timeout", "reset", "html", "invalid_json", "unexpected_body"]
LOGGERS = ("", "httpx", "httpcore", "providers", "bot.demo.sandboxes")


class Seen:
    """Everything a person or a log could read after the calls."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def error(self, exc: BaseException) -> None:
        while exc is not None:
            self.texts += [str(exc), repr(exc), *map(repr, exc.args)]
            exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]

    def outcome(self, value: ActionResult | CredentialCheck | Any) -> None:
        self.texts += [repr(value), str(value)]
        if isinstance(value, ActionResult):
            self.texts += [value.summary, repr(value.details)]

    def run(self, fn: Callable[[], Any]) -> None:
        try:
            self.outcome(fn())
        except ProviderError as exc:
            self.error(exc)


@pytest.fixture
def seen(caplog: pytest.LogCaptureFixture) -> Iterator[Seen]:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    s = Seen()
    yield s
    s.texts += [r.getMessage() for r in caplog.records]
    s.texts += [caplog.text]


def echo_body(sb: Sandbox) -> dict[str, str]:
    """An error body that repeats every secret back, as a careless API might."""
    known = " ".join(sb.secrets())
    return {
        "message": f"echo {known}",
        "error": f"echo {known}",
        "Message": f"echo {known}",
        "name": "EchoError",
    }


def every_path(sb: Sandbox, provider: Provider[Any], seen: Seen) -> None:
    uid = sb.add_user(email="ann@example.com", name="Ann Lee")
    account = provider.resolve(uid if sb.kind == "mighty_networks" else "ann@example.com")

    def perform_all() -> None:
        for spec in provider.actions:
            seen.run(partial(provider.perform, spec.name, account))
            sb.reset_rate_limits()

    perform_all()  # successes, with secrets issued
    seen.run(provider.check_credentials)
    for step in ("action", "lookup", "check", "validate"):
        for status in STATUSES:
            sb.inject(
                step, status=status, body=echo_body(sb), headers={"Retry-After": "0"}, times=None
            )
            seen.run(lambda: provider.resolve("ann@example.com"))
            seen.run(provider.check_credentials)
            perform_all()
            sb.clear_faults()
        for fault in FAULTS:
            sb.inject(step, fault=fault, times=None)
            seen.run(lambda: provider.resolve("ann@example.com"))
            seen.run(provider.check_credentials)
            perform_all()
            sb.clear_faults()


@pytest.mark.parametrize("kind", KINDS)
def test_no_secret_anywhere_on_any_path(
    kind: str,
    sandboxes: Callable[[str], Sandbox],
    connect: Callable[..., Provider[Any]],
    seen: Seen,
) -> None:
    """Every error path and success of a kind leaves no secret in logs, messages or reprs."""
    sb = sandboxes(kind)
    sb.hold_seconds = 0.5
    provider = connect(sb, timeout=0.2, retries=1)
    every_path(sb, provider, seen)
    secrets = [s for s in sb.secrets() if s]
    assert secrets, "the sandbox must report the secrets it handed out"
    assert seen.texts, "the paths must have produced something to inspect"
    everything = "\n".join(seen.texts)
    leaked = [s[:6] + "…" for s in secrets if s in everything]
    assert leaked == [], f"secrets leaked: {leaked}"


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_credentials_do_not_appear_either(
    kind: str,
    sandboxes: Callable[[str], Sandbox],
    connect: Callable[..., Provider[Any]],
    seen: Seen,
) -> None:
    """A refused credential is named by its settings key, never by its value."""
    sb = sandboxes(kind)
    wrong = f"wrong-{kind}-credential-value"
    keys = {"tyk": ("admin_secret", "dashboard_key")}.get(kind, ("token",))
    provider = connect(sb, **dict.fromkeys(keys, wrong))
    seen.run(provider.check_credentials)
    seen.run(lambda: provider.resolve("ann@example.com"))
    everything = "\n".join(seen.texts)
    assert "check `" in everything and wrong not in everything
