"""The reset request life-cycle: file, approve or deny, dispatch once, expire, recover."""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy import CursorResult, Row, ScalarSelect, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.config import Settings
from bot.domain import policy
from bot.domain.errors import (
    InvalidInput,
    LimitReached,
    NotAllowed,
    RequestNotFound,
    UnknownProvider,
    WrongState,
)
from bot.domain.ids import new_request_id, normalize_request_id
from bot.store import roles as role_store
from bot.store.db import Store
from bot.store.models import (
    ALL_PROVIDERS,
    Approval,
    RequestState,
    ResetRequest,
    Role,
    RoleGrant,
    utcnow,
)
from bot.store.requests import record, serialize_filing, transition
from providers.base import (
    Account,
    CredentialCheck,
    OutcomeUnknown,
    Provider,
    ProviderError,
)

log = logging.getLogger(__name__)

SYSTEM = "system"
MAX_REASON = 500
MAX_NOTE = 500
MAX_USER_TEXT = 254
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# The lists people ask for with a command, built once (see Store.read): what a line shows.
RECENT_LIMIT = 10
PENDING_LIMIT = 20
_LINE = (
    ResetRequest.id,
    ResetRequest.provider,
    ResetRequest.action,
    ResetRequest.target_id,
    ResetRequest.target_email,
    ResetRequest.target_name,
    ResetRequest.state,
    ResetRequest.approval_channel,
)
_RECENT = (
    select(*_LINE)
    .where(ResetRequest.requester_id == bindparam("requester_id"))
    .order_by(ResetRequest.created_at.desc())
    .limit(RECENT_LIMIT)
)
_PENDING = (
    select(*_LINE)
    .where(
        ResetRequest.state == RequestState.PENDING,
        ResetRequest.expires_at > bindparam("now"),
        ResetRequest.provider.in_(bindparam("providers", expanding=True)),
    )
    .order_by(ResetRequest.created_at)
    .limit(PENDING_LIMIT)
)


@dataclass(frozen=True, slots=True)
class ApprovalView:
    approver_id: str
    note: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class RequestView:
    """A request as people see it: a detached snapshot, safe to render anywhere."""

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

    @property
    def target_label(self) -> str:
        return Account(self.target_id, self.target_email, self.target_name).label


@dataclass(frozen=True, slots=True)
class RequestLine:
    """One request in a list (``status``, ``pending``): what a line of it shows."""

    id: str
    description: str
    state: RequestState
    approval_channel: str | None


@dataclass(frozen=True, slots=True)
class Draft:
    """A request that passed the cheap checks and still needs its user resolved."""

    requester_id: str
    provider: str
    action: str
    user_text: str
    reason: str


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


def new_owner() -> str:
    """A name for this process's dispatches: host and pid for people, random for uniqueness."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"


def clean_text(text: str, *, limit: int) -> str:
    """Collapse control characters and surrounding space; cut to ``limit`` characters."""
    return _CONTROL.sub(" ", text).strip()[:limit]


class ResetService:
    """Every decision re-checked against the store at the moment it is made."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        providers: Mapping[str, Provider[Any]],
        clock: Callable[[], datetime] = utcnow,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.providers = providers
        self.clock = clock
        # This process's name on the dispatches it runs; unique per start, so a restarted
        # process never mistakes its predecessor's calls for its own.
        self.owner = owner or new_owner()

    # -- roles ---------------------------------------------------------------------------

    def roles(self, session: Session, user_id: str, provider: str | None) -> set[Role]:
        return role_store.roles_for(session, user_id, provider, config_admins=self.settings.admins)

    def is_admin(self, user_id: str) -> bool:
        with self.store.reading() as s:
            return policy.may_administer(self.roles(s, user_id, None))

    def grant(self, actor: str, user_id: str, role: Role, provider: str | None) -> bool:
        self._require_provider(provider, field=None)
        with self.store.session() as s:
            if not policy.may_administer(self.roles(s, actor, None)):
                raise NotAllowed("Only admins can grant roles.")
            return role_store.grant(s, user_id, role, provider=provider, granted_by=actor)

    def revoke(self, actor: str, user_id: str, role: Role, provider: str | None) -> bool:
        with self.store.session() as s:
            if not policy.may_administer(self.roles(s, actor, None)):
                raise NotAllowed("Only admins can revoke roles.")
            return role_store.revoke(s, user_id, role, provider=provider, revoked_by=actor)

    def list_grants(self, actor: str, user_id: str | None = None) -> list[RoleGrant]:
        with self.store.reading() as s:
            if not policy.may_administer(self.roles(s, actor, None)):
                raise NotAllowed("Only admins can list roles.")
            grants = role_store.list_grants(s, user_id)
            s.expunge_all()
            return grants

    # -- filing --------------------------------------------------------------------------

    def provider_names(self) -> list[str]:
        return sorted(self.providers)

    def _require_provider(self, name: str | None, *, field: str | None = "provider") -> None:
        if name is not None and name not in self.providers:
            known = ", ".join(self.provider_names()) or "none configured"
            raise UnknownProvider(
                f"There is no provider called '{name}'. Configured: {known}.", field=field
            )

    def validate(
        self,
        requester_id: str,
        provider: str,
        action: str | None,
        user_text: str,
        reason: str,
    ) -> Draft:
        """The checks that need neither network nor database: what an ack can answer at once.
        Who may file is ``require_may_file``'s job, in the background."""
        provider = provider.strip().lower()
        self._require_provider(provider)
        instance = self.providers[provider]
        names = [a.name for a in instance.actions]
        if action is None or not action.strip():
            action = instance.default_action
        action = action.strip().lower()
        if action not in names:
            raise InvalidInput(
                f"'{provider}' has no action '{action}'. It offers: {', '.join(names)}.",
                field="action",
            )
        user_text = clean_text(user_text, limit=MAX_USER_TEXT + 1)
        if not user_text:
            raise InvalidInput("Say whose password to reset (e-mail or id).", field="user")
        if len(user_text) > MAX_USER_TEXT or any(c.isspace() for c in user_text):
            raise InvalidInput("The user must be one e-mail address or provider id.", field="user")
        if "@" in user_text and not _EMAIL.match(user_text):
            raise InvalidInput(f"'{user_text}' is not a valid e-mail address.", field="user")
        reason = clean_text(reason, limit=MAX_REASON + 1)
        if len(reason) < 3:
            raise InvalidInput("Give a reason (it is shown to the approver).", field="reason")
        if len(reason) > MAX_REASON:
            raise InvalidInput(f"Keep the reason under {MAX_REASON} characters.", field="reason")
        return Draft(requester_id, provider, action, user_text, reason)

    def require_may_file(self, draft: Draft) -> None:
        """Refuse before the provider is asked anything; ``file`` checks again as it writes."""
        held = role_store.read_roles(
            self.store, draft.requester_id, draft.provider, config_admins=self.settings.admins
        )
        if not policy.may_file(held):
            raise NotAllowed(
                "You don't have the requester role for "
                f"'{draft.provider}'. Ask an admin: `/reset-password roles grant`."
            )

    def resolve(self, draft: Draft) -> Account:
        """Find who will be reset; a ProviderError or refusal files nothing and is audited."""
        instance = self.providers[draft.provider]
        try:
            account = instance.resolve(draft.user_text)
        except ProviderError as exc:
            self._audit_rejected(draft, exc.kind, str(exc))
            raise
        if account.not_resettable_reason:
            reason = account.not_resettable_reason.rstrip()
            if not reason.endswith((".", "!", "?")):
                reason += "."  # the Slack reply goes on with "Nothing was filed."
            message = f"{account.label} can't be reset here: {reason}"
            self._audit_rejected(draft, "not_resettable", message)
            raise NotAllowed(message, field="user")
        return account

    def reject_unknown_provider(self, requester_id: str, provider: str, user_text: str) -> None:
        """A request naming no configured provider: nothing is filed, but the attempt is kept."""
        name = clean_text(provider, limit=40)
        with self.store.session() as s:
            record(
                s,
                actor=requester_id,
                action="request.rejected",
                outcome="unknown_provider",
                provider=name,
                target=clean_text(user_text, limit=MAX_USER_TEXT),
                message=f"there is no provider called '{name}'",
            )

    def _audit_rejected(self, draft: Draft, kind: str, message: str) -> None:
        with self.store.session() as s:
            record(
                s,
                actor=draft.requester_id,
                action="request.rejected",
                outcome=kind,
                provider=draft.provider,
                target=draft.user_text,
                message=message,
            )

    def file(self, draft: Draft, account: Account, *, origin_channel: str | None) -> RequestView:
        instance_settings = self.settings.providers[draft.provider]
        now = self.clock()
        with self.store.session() as s:
            # Re-checked here too: the role may have been revoked during the look-up.
            if not policy.may_file(self.roles(s, draft.requester_id, draft.provider)):
                raise NotAllowed(f"You don't have the requester role for '{draft.provider}'.")
            serialize_filing(s)
            self._check_limits(s, draft, account)
            request = ResetRequest(
                id=new_request_id(),
                requester_id=draft.requester_id,
                provider=draft.provider,
                action=draft.action,
                target_input=draft.user_text,
                target_id=account.id,
                target_email=account.email,
                target_name=account.display_name,
                reason=draft.reason,
                state=RequestState.PENDING,
                approvals_required=instance_settings.approvals_required,
                created_at=now,
                updated_at=now,
                expires_at=now + timedelta(minutes=self.settings.request_ttl_minutes),
                origin_channel=origin_channel,
                approval_channel=instance_settings.approvals_channel or origin_channel,
                approvals=[],  # known empty: reading it for the view needs no query
            )
            s.add(request)
            s.flush()
            record(
                s,
                actor=draft.requester_id,
                action="request.filed",
                request=request,
                outcome=RequestState.PENDING.value,
                action_name=draft.action,
                reason=draft.reason,
            )
            return self._view(request)

    def _check_limits(self, s: Session, draft: Draft, account: Account) -> None:
        # One statement (two indexed counts), one round trip: inside the serialised section.
        pending = (ResetRequest.state == RequestState.PENDING) & (
            ResetRequest.expires_at > self.clock()
        )

        def pending_where(*criteria: ColumnElement[bool]) -> ScalarSelect[int]:
            return select(func.count()).where(pending, *criteria).scalar_subquery()

        mine, same_target = s.execute(
            select(
                pending_where(ResetRequest.requester_id == draft.requester_id),
                pending_where(
                    ResetRequest.provider == draft.provider, ResetRequest.target_id == account.id
                ),
            )
        ).one()
        if (mine or 0) >= self.settings.max_pending_per_requester:
            raise LimitReached(
                f"You already have {mine} pending requests (the limit is "
                f"{self.settings.max_pending_per_requester}). Wait for a decision or cancel one."
            )
        if (same_target or 0) >= self.settings.max_pending_per_target:
            raise LimitReached(
                f"There is already a pending request for {account.label} at "
                f"'{draft.provider}'. `/reset-password pending` shows it."
            )

    def attach_message(self, request_id: str, channel: str, ts: str) -> None:
        with self.store.session() as s:
            s.execute(
                update(ResetRequest)
                .where(ResetRequest.id == request_id)
                .values(approval_channel=channel, approval_ts=ts)
            )

    def abandon(self, request_id: str, why: str) -> RequestView | None:
        """Cancel a request nobody can decide (its approval message could not be posted)."""
        with self.store.session() as s:
            if not transition(
                s,
                request_id,
                RequestState.PENDING,
                RequestState.CANCELLED,
                finished_at=self.clock(),
                outcome_kind="not_posted",
                outcome_message=why,
            ):
                return None
            request = self._load(s, request_id)
            record(
                s,
                actor=SYSTEM,
                action="request.cancelled",
                request=request,
                outcome="not_posted",
                message=why,
            )
            return self._view(request)

    # -- deciding ------------------------------------------------------------------------

    def _load(self, s: Session, request_id: str, *, lock: bool = False) -> ResetRequest:
        rid = normalize_request_id(request_id)
        request = None
        if rid is not None:
            stmt = select(ResetRequest).where(ResetRequest.id == rid)
            if lock:
                stmt = stmt.with_for_update()
            request = s.scalars(stmt).one_or_none()
        if request is None:
            raise RequestNotFound(f"There is no request `{request_id[:20]}`.")
        return request

    def _expire_if_due(self, request_id: str) -> None:
        """Expire an overdue request in its own transaction, so a refusal cannot roll it back."""
        with self.store.reading() as s:
            request = self._load(s, request_id)
            if request.state is not RequestState.PENDING or request.expires_at > self.clock():
                return  # the common case takes no write lock
        with self.store.session() as s:
            request = self._load(s, request_id)
            if request.state is RequestState.PENDING and request.expires_at <= self.clock():
                if transition(
                    s,
                    request.id,
                    RequestState.PENDING,
                    RequestState.EXPIRED,
                    finished_at=self.clock(),
                    message_stale=True,
                ):
                    record(
                        s,
                        actor=SYSTEM,
                        action="request.expired",
                        request=request,
                        outcome=RequestState.EXPIRED.value,
                    )

    def _check_decider(self, s: Session, request: ResetRequest, actor: str) -> None:
        if request.state is RequestState.PENDING and request.expires_at <= self.clock():
            raise WrongState(f"Request {request.id} has expired; nothing to decide.")
        if request.state is not RequestState.PENDING:
            raise WrongState(f"Request {request.id} is {request.state.value}; nothing to decide.")
        if not policy.may_decide(self.roles(s, actor, request.provider)):
            raise NotAllowed(
                f"You can't decide requests for '{request.provider}': that needs the approver "
                "role for it."
            )
        if actor == request.requester_id and not self._self_approval_allowed(request):
            raise NotAllowed("You can't decide your own request; another approver must.")
        if any(a.approver_id == actor for a in request.approvals):
            raise NotAllowed("You have already approved this request; it needs someone else.")

    def _self_approval_allowed(self, request: ResetRequest) -> bool:
        instance = self.settings.providers.get(request.provider)
        return bool(instance and instance.allow_self_approval)

    def check_decider(self, request_id: str, actor: str) -> RequestView:
        """Whether ``actor`` may decide now; raises with the reason when not (nothing changes)."""
        self._expire_if_due(request_id)
        with self.store.reading() as s:
            request = self._load(s, request_id)
            self._check_decider(s, request, actor)
            return self._view(request)

    def approve(self, request_id: str, actor: str, note: str | None = None) -> Decision:
        note = clean_text(note or "", limit=MAX_NOTE) or None
        self._expire_if_due(request_id)
        try:
            with self.store.session() as s:
                # The row lock makes concurrent approvals by different people count each other.
                request = self._load(s, request_id, lock=True)
                self._check_decider(s, request, actor)
                s.add(
                    Approval(
                        request_id=request.id, approver_id=actor, note=note, created_at=self.clock()
                    )
                )
                s.flush()
                count = s.scalar(select(func.count()).where(Approval.request_id == request.id)) or 0
                record(
                    s,
                    actor=actor,
                    action="request.approval_added",
                    request=request,
                    outcome=f"{count}/{request.approvals_required}",
                    note=note,
                )
                quorum = count >= request.approvals_required
                if quorum:
                    if not transition(
                        s,
                        request.id,
                        RequestState.PENDING,
                        RequestState.APPROVED,
                        decided_by=actor,
                        decided_at=self.clock(),
                        decision_note=note,
                    ):
                        raise WrongState(f"Request {request.id} was decided meanwhile.")
                    record(
                        s,
                        actor=actor,
                        action="request.approved",
                        request=request,
                        outcome=RequestState.APPROVED.value,
                    )
                s.refresh(request)
                return Decision(self._view(request), quorum)
        except IntegrityError as exc:
            # The unique (request, approver) row: the same person's second click raced the first.
            raise NotAllowed("You have already approved this request.") from exc

    @staticmethod
    def deny_reason(reason: str) -> str:
        """The reason a denial must give, cleaned; InvalidInput without one (no database)."""
        reason = clean_text(reason, limit=MAX_NOTE + 1)
        if len(reason) < 3:
            raise InvalidInput("Say why you deny it (the requester sees this).", field="reason")
        if len(reason) > MAX_NOTE:
            raise InvalidInput(f"Keep the reason under {MAX_NOTE} characters.", field="reason")
        return reason

    def deny(self, request_id: str, actor: str, reason: str) -> RequestView:
        reason = self.deny_reason(reason)
        self._expire_if_due(request_id)
        with self.store.session() as s:
            request = self._load(s, request_id, lock=True)
            self._check_decider(s, request, actor)
            if not transition(
                s,
                request.id,
                RequestState.PENDING,
                RequestState.DENIED,
                decided_by=actor,
                decided_at=self.clock(),
                decision_note=reason,
                finished_at=self.clock(),
            ):
                raise WrongState(f"Request {request.id} was decided meanwhile.")
            record(
                s,
                actor=actor,
                action="request.denied",
                request=request,
                outcome=RequestState.DENIED.value,
                reason=reason,
            )
            s.refresh(request)
            return self._view(request)

    def cancel(self, request_id: str, actor: str) -> RequestView:
        self._expire_if_due(request_id)
        with self.store.session() as s:
            request = self._load(s, request_id, lock=True)
            is_requester = request.requester_id == actor
            if not policy.may_cancel(
                self.roles(s, actor, request.provider), is_requester=is_requester
            ):
                raise NotAllowed("Only the requester or an admin can cancel a request.")
            if request.state is not RequestState.PENDING or request.expires_at <= self.clock():
                raise WrongState(
                    f"Request {request.id} is {request.state.value}; only pending requests "
                    "can be cancelled."
                )
            if not transition(
                s,
                request.id,
                RequestState.PENDING,
                RequestState.CANCELLED,
                decided_by=actor,
                decided_at=self.clock(),
                finished_at=self.clock(),
            ):
                raise WrongState(f"Request {request.id} was decided meanwhile.")
            record(
                s,
                actor=actor,
                action="request.cancelled",
                request=request,
                outcome=RequestState.CANCELLED.value,
            )
            s.refresh(request)
            return self._view(request)

    # -- dispatching ---------------------------------------------------------------------

    def dispatch(self, request_id: str) -> DispatchOutcome | None:
        """Call the provider for an approved request; None if someone else already did."""
        with self.store.session() as s:
            now = self.clock()
            if not transition(
                s,
                request_id,
                RequestState.APPROVED,
                RequestState.DISPATCHING,
                dispatch_started_at=now,
                dispatch_owner=self.owner,
                dispatch_heartbeat_at=now,
            ):
                return None
            request = self._load(s, request_id)
            record(
                s,
                actor=SYSTEM,
                action="request.dispatching",
                request=request,
                outcome=RequestState.DISPATCHING.value,
            )
            account = Account(request.target_id, request.target_email, request.target_name)
            provider_name, action = request.provider, request.action

        secret: SecretStr | None = None
        secret_label: str | None = None
        details: dict[str, Any] = {}
        instance = self.providers.get(provider_name)
        if instance is None:
            state, kind = RequestState.FAILED, "not_configured"
            message = f"Provider '{provider_name}' is no longer configured; nothing was done."
        else:
            try:
                result = instance.perform(action, account)
            except OutcomeUnknown as exc:
                state, kind, message = RequestState.UNKNOWN, exc.kind, str(exc)
            except ProviderError as exc:
                state, kind, message = RequestState.FAILED, exc.kind, str(exc)
            except Exception as exc:  # a bug mid-call: we cannot know whether it acted
                log.exception("provider %s raised unexpectedly during %s", provider_name, action)
                state, kind = RequestState.UNKNOWN, "outcome_unknown"
                message = (
                    f"An unexpected error ({type(exc).__name__}) interrupted the call; "
                    "verify at the provider whether it happened."
                )
            else:
                state, kind, message = RequestState.SUCCEEDED, "ok", result.summary
                secret, secret_label, details = result.secret, result.secret_label, result.details
                if secret is not None:
                    label = secret_label or "secret"
                    message += f" The {label} goes only to the requester, by direct message."
        return DispatchOutcome(
            self._finish(
                request_id,
                state,
                kind,
                message,
                details,
                secret_delivered_privately=secret is not None,
            ),
            secret,
            secret_label,
        )

    def _finish(
        self,
        request_id: str,
        state: RequestState,
        kind: str,
        message: str,
        details: Mapping[str, Any],
        *,
        secret_delivered_privately: bool = False,
    ) -> RequestView:
        with self.store.session() as s:
            moved = transition(
                s,
                request_id,
                RequestState.DISPATCHING,
                state,
                finished_at=self.clock(),
                outcome_kind=kind,
                outcome_message=message,
            )
            request = self._load(s, request_id)
            if moved:
                record(
                    s,
                    actor=SYSTEM,
                    action=f"request.{state.value}",
                    request=request,
                    outcome=kind,
                    message=message,
                    secret_issued=secret_delivered_privately,
                    **{k: v for k, v in details.items() if k not in {"secret", "message"}},
                )
            return self._view(request)

    def record_secret_delivery(self, request_id: str, *, delivered: bool, why: str = "") -> None:
        with self.store.session() as s:
            request = self._load(s, request_id)
            if not delivered:
                request.outcome_message = (
                    f"{request.outcome_message or ''} It could not be delivered ({why}); "
                    "file a new request to issue a fresh one."
                ).strip()
            record(
                s,
                actor=SYSTEM,
                action="secret.delivered" if delivered else "secret.delivery_failed",
                request=request,
                outcome="ok" if delivered else "failed",
                message=why,
            )

    # -- housekeeping --------------------------------------------------------------------

    def expire_due(self) -> list[RequestView]:
        now = self.clock()
        expired = []
        with self.store.session() as s:
            due = s.scalars(
                select(ResetRequest.id).where(
                    ResetRequest.state == RequestState.PENDING, ResetRequest.expires_at <= now
                )
            ).all()
        for rid in due:
            with self.store.session() as s:
                if transition(
                    s,
                    rid,
                    RequestState.PENDING,
                    RequestState.EXPIRED,
                    finished_at=now,
                    message_stale=True,
                ):
                    request = self._load(s, rid)
                    record(
                        s,
                        actor=SYSTEM,
                        action="request.expired",
                        request=request,
                        outcome=RequestState.EXPIRED.value,
                    )
                    expired.append(self._view(request))
        return expired

    def heartbeat(self) -> int:
        """Renew the lease on every dispatch this process is running; how many there are."""
        with self.store.session() as s:
            result = s.execute(
                update(ResetRequest)
                .where(
                    ResetRequest.dispatch_owner == self.owner,
                    ResetRequest.state == RequestState.DISPATCHING,
                )
                .values(dispatch_heartbeat_at=self.clock())
                .execution_options(synchronize_session=False)
            )
            assert isinstance(result, CursorResult)
            return int(result.rowcount or 0)

    def lease(self) -> timedelta:
        """How long a dispatch survives without a heartbeat before it counts as abandoned."""
        return timedelta(seconds=self.settings.dispatch_lease_seconds)

    def stuck_after(self, provider: str) -> timedelta:
        """For a dispatch without heartbeats (started before leases existed): a generous bound
        on how long its call could still be running."""
        instance = self.settings.providers.get(provider)
        timeout = instance.timeout_seconds if instance else 10.0
        retries = instance.max_retries if instance else 2
        return timedelta(seconds=timeout * (retries + 1) * 2 + 60)

    def recover(self) -> tuple[list[RequestView], list[str]]:
        """Dispatches whose process stopped renewing them → unknown; approved but never
        started → ids to dispatch (the provider was certainly not called for those).

        A live process renews its dispatches every third of the lease however long the
        provider takes, so a replica never reports another replica's running call as unknown.
        """
        now = self.clock()
        unknown: list[RequestView] = []
        with self.store.session() as s:
            rows = s.execute(
                select(
                    ResetRequest.id,
                    ResetRequest.provider,
                    ResetRequest.dispatch_started_at,
                    ResetRequest.dispatch_heartbeat_at,
                    ResetRequest.state,
                    ResetRequest.decided_at,
                ).where(ResetRequest.state.in_([RequestState.DISPATCHING, RequestState.APPROVED]))
            ).all()
        redispatch = []
        for rid, provider, started, beat, state, decided in rows:
            if state is RequestState.APPROVED:
                if decided is None or now - decided > timedelta(seconds=30):
                    redispatch.append(rid)
                continue
            if beat is not None:
                if now - beat < self.lease():
                    continue
                # Only if it was not renewed since it was read: a paused owner may be back.
                guard = ResetRequest.dispatch_heartbeat_at <= beat
            elif started is not None and now - started < self.stuck_after(provider):
                continue
            else:
                guard = ResetRequest.dispatch_heartbeat_at.is_(None)
            with self.store.session() as s:
                if transition(
                    s,
                    rid,
                    RequestState.DISPATCHING,
                    RequestState.UNKNOWN,
                    guard=guard,
                    finished_at=now,
                    outcome_kind="outcome_unknown",
                    outcome_message="The bot stopped while calling the provider; "
                    "verify at the provider whether the reset happened.",
                    message_stale=True,
                ):
                    request = self._load(s, rid)
                    record(
                        s,
                        actor=SYSTEM,
                        action="request.unknown",
                        request=request,
                        outcome="outcome_unknown",
                        message="interrupted mid-call",
                    )
                    unknown.append(self._view(request))
        return unknown, redispatch

    def mark_message(self, request_id: str, *, stale: bool) -> None:
        with self.store.session() as s:
            request = s.get(ResetRequest, request_id)
            if request is not None:
                request.message_stale = stale

    def stale_messages(self, limit: int = 50) -> list[RequestView]:
        with self.store.reading() as s:
            rows = s.scalars(
                select(ResetRequest)
                .where(ResetRequest.message_stale.is_(True), ResetRequest.approval_ts.is_not(None))
                .limit(limit)
            ).all()
            return [self._view(r) for r in rows]

    # -- reading -------------------------------------------------------------------------

    def view(self, request_id: str) -> RequestView:
        """The current state, for rendering; no permission check (never shown on request)."""
        with self.store.reading() as s:
            return self._view(self._load(s, request_id))

    def get(self, request_id: str, actor: str) -> RequestView:
        self._expire_if_due(request_id)
        with self.store.reading() as s:
            request = self._load(s, request_id)
            if not policy.may_see(
                self.roles(s, actor, request.provider), is_requester=request.requester_id == actor
            ):
                raise RequestNotFound(f"There is no request `{request_id[:20]}` you can see.")
            return self._view(request)

    def recent_for(self, actor: str) -> list[RequestLine]:
        """``actor``'s latest requests, newest first: one indexed read, no ORM objects."""
        rows = self.store.read(_RECENT, {"requester_id": actor})
        return [self._line(r) for r in rows]

    def pending_for(self, actor: str) -> list[RequestLine]:
        """Pending requests ``actor`` could decide now, oldest first."""
        roles = role_store.read_roles_by_provider(
            self.store, actor, self.providers, config_admins=self.settings.admins
        )
        deciding = sorted(name for name, held in roles.items() if policy.may_decide(held))
        if not deciding:
            return []
        rows = self.store.read(_PENDING, {"now": self.clock(), "providers": deciding})
        return [self._line(r) for r in rows]

    def _line(self, r: Row[Any]) -> RequestLine:
        account = Account(r.target_id, r.target_email, r.target_name)
        return RequestLine(
            r.id, self._describe(r.provider, r.action, account), r.state, r.approval_channel
        )

    def _describe(self, provider: str, action: str, account: Account) -> str:
        instance = self.providers.get(provider)
        if instance is not None:
            try:
                return instance.describe(action, account)
            except (KeyError, ValueError):
                pass
        return f"{action} for {account.label}"

    def provider_status(self) -> list[ProviderStatus]:
        out = []
        for name in self.provider_names():
            instance = self.providers[name]
            try:
                check = instance.check_credentials()
            except ProviderError as exc:
                check = CredentialCheck(ok=False, detail=str(exc))
            out.append(
                ProviderStatus(name, instance.title, tuple(a.name for a in instance.actions), check)
            )
        return out

    def _view(self, r: ResetRequest) -> RequestView:
        instance = self.providers.get(r.provider)
        account = Account(r.target_id, r.target_email, r.target_name)
        title = instance.title if instance is not None else r.provider
        description = self._describe(r.provider, r.action, account)
        return RequestView(
            id=r.id,
            requester_id=r.requester_id,
            provider=r.provider,
            provider_title=title,
            action=r.action,
            description=description,
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
        )


__all__ = [
    "ALL_PROVIDERS",
    "Decision",
    "DispatchOutcome",
    "Draft",
    "ProviderStatus",
    "RequestView",
    "ResetService",
]
