"""What the life-cycle needs from the outside world, as ports the Slack layer implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import SecretStr

from bot.domain.views import RequestView


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Where an approval message lives."""

    channel: str
    ts: str


class NotPosted(Exception):
    """The approval message could not be posted; ``str()`` tells the requester why and what
    to do about it, ``error`` is the short cause for the record."""

    def __init__(self, message: str, *, error: str) -> None:
        super().__init__(message)
        self.error = error


class Notifier(Protocol):
    """Tells people what happened to a request. Returns False where a message did not go out
    (already logged); never writes domain state."""

    def post_approval(self, view: RequestView) -> MessageRef:
        """Post the approval message with its buttons; NotPosted if it could not be."""
        ...

    def update_approval(self, view: RequestView) -> bool:
        """Re-render the approval message to show ``view``'s state."""
        ...

    def approval_added(self, view: RequestView, approver: str) -> bool:
        """Say in the message's thread that ``approver`` approved (n of m)."""
        ...

    def outcome(self, view: RequestView) -> bool:
        """Say in the message's thread how the request ended."""
        ...

    def tell_requester(self, view: RequestView) -> bool:
        """Tell the requester, by direct message, where their request stands."""
        ...

    def deliver_secret(self, view: RequestView, label: str, secret: SecretStr) -> bool:
        """Send a reset link or temporary password to the requester's DM: its only route."""
        ...
