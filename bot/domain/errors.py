"""What the domain refuses, each with a message fit to show the person who asked."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal or failure the person who asked should see; ``str()`` is the message."""

    kind = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # the modal input the message belongs to, when there is one


class InvalidInput(DomainError):
    kind = "invalid_input"


class UnknownProvider(InvalidInput):
    kind = "unknown_provider"


class NotAllowed(DomainError):
    kind = "not_allowed"


class RequestNotFound(DomainError):
    kind = "request_not_found"


class WrongState(DomainError):
    """The request has already moved on (decided, expired, cancelled)."""

    kind = "wrong_state"


class LimitReached(DomainError):
    kind = "limit_reached"
