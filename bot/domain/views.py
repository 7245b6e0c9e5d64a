"""What the domain hands out: detached, secret-free snapshots, safe to render anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from bot.domain.catalog import Catalog
from bot.store.models import (
    Confirmation,
    RequestState,
    ResetRequest,
    Role,
    RoleGrant,
    TargetLookup,
)
from providers.base import Account, CredentialCheck


@dataclass(frozen=True, slots=True)
class ApprovalView:
    approver_id: str
    note: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class RequestView:
    """A request as people see it."""

    id: str
    requester_id: str
    provider: str
    provider_title: str
    action: str
    description: str
    target_input: str
    target_id: str
    target_email: str | None
    target_name: str | None
    reason: str
    state: RequestState
    approvals_required: int
    approvals: tuple[ApprovalView, ...]
    created_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    outcome_kind: str | None
    outcome_message: str | None
    finished_at: datetime | None
    origin_channel: str | None
    approval_channel: str | None
    approval_ts: str | None
    message_stale: bool = False
    target_lookup: str | None = None  # a TargetLookup
    target_lookup_error: str | None = None
    target_slack_id: str | None = None
    confirmation: Confirmation = Confirmation.NOT_NEEDED
    confirmed_at: datetime | None = None
    privileged: bool = False
    privileged_why: str | None = None
    secret_recipient: str | None = None
    disputed_at: datetime | None = None
    # What secret the action returns ("reset link"), and who will receive it by DM.
    secret_label: str | None = None
    secret_to: str | None = None
    reminded_at: datetime | None = None
    # Other copies of the approval message: (channel, ts, purpose) each, updated like the
    # original; purpose "escalation" or "dm".
    copies: tuple[tuple[str, str, str], ...] = ()

    @property
    def target_label(self) -> str:
        return Account(self.target_id, self.target_email, self.target_name).label

    @property
    def account(self) -> Account:
        return Account(self.target_id, self.target_email, self.target_name)


@dataclass(frozen=True, slots=True)
class RequestLine:
    """One request in a list (``status``, ``pending``): what a line of it shows."""

    id: str
    description: str
    state: RequestState
    approval_channel: str | None


FROM_CONFIG = "config"  # GrantView.granted_by of the admins the config names


@dataclass(frozen=True, slots=True)
class GrantView:
    user_id: str
    role: Role
    provider_scope: str
    granted_by: str
    granted_at: datetime | None  # None for the config's admins

    @property
    def from_config(self) -> bool:
        return self.granted_by == FROM_CONFIG


@dataclass(frozen=True, slots=True)
class Draft:
    """A request that passed the cheap checks and still needs its user resolved."""

    requester_id: str
    provider: str
    action: str
    user_text: str
    reason: str


@dataclass(frozen=True, slots=True)
class Target:
    """The account's owner as found in Slack when the request was filed."""

    lookup: TargetLookup
    slack_id: str | None = None
    error: str | None = None
    privileged: bool = False
    privileged_why: str | None = None
    confirm: bool = False  # ask them before anything is done


@dataclass(frozen=True, slots=True)
class Decision:
    request: RequestView
    quorum_met: bool


@dataclass(frozen=True, slots=True)
class DispatchOutcome:
    request: RequestView
    secret: SecretStr | None = None
    secret_label: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    name: str
    title: str
    actions: tuple[str, ...]
    check: CredentialCheck


def request_view(r: ResetRequest, catalog: Catalog) -> RequestView:
    account = Account(r.target_id, r.target_email, r.target_name)
    return RequestView(
        id=r.id,
        requester_id=r.requester_id,
        provider=r.provider,
        provider_title=catalog.title(r.provider),
        action=r.action,
        description=catalog.describe(r.provider, r.action, account),
        target_input=r.target_input,
        target_id=r.target_id,
        target_email=r.target_email,
        target_name=r.target_name,
        reason=r.reason,
        state=r.state,
        approvals_required=r.approvals_required,
        approvals=tuple(ApprovalView(a.approver_id, a.note, a.created_at) for a in r.approvals),
        created_at=r.created_at,
        expires_at=r.expires_at,
        decided_by=r.decided_by,
        decided_at=r.decided_at,
        decision_note=r.decision_note,
        outcome_kind=r.outcome_kind,
        outcome_message=r.outcome_message,
        finished_at=r.finished_at,
        origin_channel=r.origin_channel,
        approval_channel=r.approval_channel,
        approval_ts=r.approval_ts,
        message_stale=bool(r.message_stale),
        target_lookup=r.target_lookup,
        target_lookup_error=r.target_lookup_error,
        target_slack_id=r.target_slack_id,
        confirmation=Confirmation(r.confirmation or Confirmation.NOT_NEEDED),
        confirmed_at=r.confirmed_at,
        privileged=bool(r.privileged),
        privileged_why=r.privileged_why,
        secret_recipient=r.secret_recipient,
        disputed_at=r.disputed_at,
        secret_label=catalog.secret_of(r.provider, r.action),
        reminded_at=r.reminded_at,
        copies=tuple((c.channel, c.ts, c.purpose) for c in r.copies),
    )


def request_line(row: Any, catalog: Catalog) -> RequestLine:
    account = Account(row.target_id, row.target_email, row.target_name)
    return RequestLine(
        row.id, catalog.describe(row.provider, row.action, account), row.state, row.approval_channel
    )


def grant_view(g: RoleGrant) -> GrantView:
    return GrantView(g.slack_user_id, g.role, g.provider_scope, g.granted_by, g.granted_at)
