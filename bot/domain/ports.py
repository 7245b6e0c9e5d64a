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


@dataclass(frozen=True, slots=True)
class PersonLookup:
    """Who an e-mail address belongs to in the workspace."""

    found: str | None = None  # the person's Slack user id
    error: str | None = None  # set when the workspace could not be asked

    @property
    def failed(self) -> bool:
        return self.error is not None


class Directory(Protocol):
    """The workspace's people."""

    def find_by_email(self, email: str) -> PersonLookup:
        """Never raises: a failure to ask is a PersonLookup with ``error``."""
        ...


class GroupCheckFailed(Exception):
    """The workspace could not say who is in a user group (Slack down, scope missing)."""


class Teams(Protocol):
    """The workspace's user groups (``S…``)."""

    def members(self, group_id: str) -> frozenset[str]:
        """Who is in the group now (recently cached); GroupCheckFailed if Slack cannot say."""
        ...

    def find(self, handle: str) -> str | None:
        """The id of the group called ``@handle``, or None; GroupCheckFailed if unknown."""
        ...

    def handle(self, group_id: str) -> str | None:
        """``@handle`` of the group, or None when Slack knows no such group."""
        ...


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

    def deliver_secret(
        self, view: RequestView, recipient: str, label: str, secret: SecretStr
    ) -> bool:
        """Send a reset link or temporary password to ``recipient``'s DM: its only route."""
        ...

    def ask_target(self, view: RequestView) -> bool:
        """Ask the account's owner, by DM, whether the request is theirs (Yes / No)."""
        ...

    def target_answered(self, view: RequestView) -> bool:
        """Say in the message's thread what the owner answered."""
        ...

    def tell_people(self, view: RequestView, people: list[str]) -> bool:
        """Tell each of ``people`` (approvers, by DM) where the request stands."""
        ...

    def tell_owner(self, view: RequestView) -> bool:
        """Tell the account's owner, by DM, what was done, at whose request, approved by
        whom, with a "This wasn't me" button."""
        ...

    def remind(self, view: RequestView, deciders: list[str], admins: list[str]) -> bool:
        """A reminder in the message's thread naming who can decide (``deciders``; when there
        is nobody, say so and name ``admins``)."""
        ...

    def post_copy(self, view: RequestView, where: str, purpose: str) -> MessageRef | None:
        """A copy of the approval message, with working buttons, in channel ``where`` (or the
        DM of the person ``where``); ``purpose`` is "escalation" or "dm"."""
        ...

    def update_copy(self, view: RequestView, ref: MessageRef, purpose: str) -> bool:
        """Re-render the copy at ``ref`` to show ``view``'s state."""
        ...

    def request_changed(self, view: RequestView) -> None:
        """Whatever else shows requests (a Home tab) may now be out of date."""
        ...

    def alert(self, channel: str, view: RequestView, what: str) -> bool:
        """Post a security alert about ``view`` in ``channel``; ``what`` says what happened."""
        ...
