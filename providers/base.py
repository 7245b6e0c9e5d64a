"""The contract every provider kind fulfils, and the errors it may raise.

Error hierarchy (``kind`` is the stable name written to the audit log; ``str(exc)`` is a
message fit to show a support engineer in Slack and never contains a credential or secret)::

    ProviderError                       base; .kind, .status_code, .response (kept, never printed)
    ├── NotFound                        "not_found"              the account does not exist
    ├── BadCredentials                  "bad_credentials"        the configured token is refused
    ├── InsufficientPermission          "insufficient_permission"  token valid, lacks rights
    ├── RateLimited                     "rate_limited"           .retry_after (seconds) or None
    ├── Conflict                        "conflict"
    ├── BadInput                        "bad_input"              rejected before or by the provider
    ├── NotResettable                   "not_resettable"         SSO user, service credential, ...
    ├── Unavailable                     "unavailable"            the provider certainly did not act
    ├── UnexpectedResponse              "unexpected_response"    a read answered with nonsense
    └── OutcomeUnknown                  "outcome_unknown"        an action may or may not have
                                                                 happened: verify at the provider

Only ``Unavailable`` and ``RateLimited`` are ever retried, and only by the client itself, bounded.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import httpx
from pydantic import SecretStr

from providers.settings import ProviderSettingsBase


class ProviderError(Exception):
    """A provider call failed; the message is safe to show a support engineer."""

    kind: ClassVar[str] = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.response = response


class NotFound(ProviderError):
    kind = "not_found"


class BadCredentials(ProviderError):
    kind = "bad_credentials"


class InsufficientPermission(ProviderError):
    kind = "insufficient_permission"


class RateLimited(ProviderError):
    kind = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, response=response)
        self.retry_after = retry_after


class Conflict(ProviderError):
    kind = "conflict"


class BadInput(ProviderError):
    kind = "bad_input"


class NotResettable(ProviderError):
    kind = "not_resettable"


class Unavailable(ProviderError):
    kind = "unavailable"


class UnexpectedResponse(ProviderError):
    kind = "unexpected_response"


class OutcomeUnknown(ProviderError):
    kind = "outcome_unknown"


@dataclass(frozen=True, slots=True)
class Account:
    """A user at a provider, as resolved from what the requester typed."""

    id: str
    email: str | None = None
    display_name: str | None = None
    # Set when a reset cannot help this account (an F5 SSO user, a service credential).
    not_resettable_reason: str | None = None
    # The account holds administrator rights at the provider, as the vendor's API says so;
    # ``privileged_why`` names the evidence ("Unleash root role Admin").
    privileged: bool = False
    privileged_why: str | None = None

    @property
    def label(self) -> str:
        """Name and e-mail for people, e.g. ``Tom Tyk <tom@example.com>``."""
        if self.display_name and self.email:
            return f"{self.display_name} <{self.email}>"
        return self.display_name or self.email or self.id


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One thing a provider kind can do to an account."""

    name: str  # the word typed in the command: "reset", "allow", "revoke"
    label: str  # shown in the action select: "Full reset (temporary password)"
    returns: str | None = None  # the secret it returns, if any: "reset link"


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action did, in words for the channel; any secret travels separately."""

    summary: str  # e.g. "Password-reset e-mail sent to tom@example.com"; never a secret
    secret: SecretStr | None = None  # reset link or temporary password: DM to requester only
    secret_label: str | None = None  # "reset link", "temporary password"
    details: dict[str, Any] = field(default_factory=dict)  # secret-free facts for the audit log


@dataclass(frozen=True, slots=True)
class CredentialCheck:
    ok: bool
    detail: str  # "ok: admin rights confirmed" / "bad credentials: token refused"
    # Each missing right in one line that says what to change; empty when nothing is missing.
    shortfalls: tuple[str, ...] = ()


S = TypeVar("S", bound=ProviderSettingsBase)


class Provider(ABC, Generic[S]):
    """A configured provider instance. Synchronous; safe to share between threads."""

    kind: ClassVar[str]
    title: ClassVar[str]  # vendor name for people: "Mighty Networks"

    def __init__(
        self,
        *,
        name: str,
        settings: S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.transport = transport

    @property
    @abstractmethod
    def actions(self) -> tuple[ActionSpec, ...]:
        """The actions this instance offers; the first is the default."""

    @property
    def default_action(self) -> str:
        return self.actions[0].name

    @abstractmethod
    def resolve(self, user: str) -> Account:
        """Find the account for what was typed (an e-mail or the provider's own id).

        Raises NotFound, BadInput, or a transport/credential error. An account that a reset
        cannot help is returned with ``not_resettable_reason`` set.
        """

    @abstractmethod
    def perform(self, action: str, account: Account) -> ActionResult:
        """Do ``action`` to ``account`` exactly once (never retried after it may have acted)."""

    @abstractmethod
    def describe(self, action: str, account: Account) -> str:
        """The action in plain words, e.g. "Allow Tom Tyk to reset other users' passwords"."""

    @abstractmethod
    def check_credentials(self) -> CredentialCheck:
        """Whether the configured credentials work and carry the rights the actions need."""

    def close(self) -> None:  # an optional hook, deliberately not abstract
        """Release pooled connections."""
