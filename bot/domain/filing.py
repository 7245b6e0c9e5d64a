"""Filing a request: the cheap checks an ack can answer, the look-up, the limits, the insert."""

from __future__ import annotations

from datetime import timedelta

from bot.domain import lifecycle, policy
from bot.domain.context import SYSTEM, Context
from bot.domain.errors import InvalidInput, LimitReached, NotAllowed
from bot.domain.ids import new_request_id
from bot.domain.lifecycle import AuditAction, Event
from bot.domain.ports import Directory, PersonLookup
from bot.domain.text import MAX_REASON, MAX_USER_TEXT, clean_text, is_email
from bot.domain.views import Draft, RequestView, Target
from bot.store import requests as request_store
from bot.store.db import Tx
from bot.store.models import Confirmation, RequestState, ResetRequest, TargetLookup
from providers.base import Account, ProviderError


class Filing:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

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
        self.ctx.catalog.require(provider)
        instance = self.ctx.catalog[provider]
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
        if "@" in user_text and not is_email(user_text):
            raise InvalidInput(f"'{user_text}' is not a valid e-mail address.", field="user")
        reason = clean_text(reason, limit=MAX_REASON + 1)
        if len(reason) < 3:
            raise InvalidInput("Give a reason (it is shown to the approver).", field="reason")
        if len(reason) > MAX_REASON:
            raise InvalidInput(f"Keep the reason under {MAX_REASON} characters.", field="reason")
        return Draft(requester_id, provider, action, user_text, reason)

    def require_may_file(self, draft: Draft) -> None:
        """Refuse before the provider is asked anything; ``file`` checks again as it writes."""
        if not policy.may_file(self.ctx.read_roles(draft.requester_id, draft.provider)):
            raise NotAllowed(
                "You don't have the requester role for "
                f"'{draft.provider}'. Ask an admin: `/reset-password roles grant`."
            )

    def resolve(self, draft: Draft) -> Account:
        """Find who will be reset; a ProviderError or refusal files nothing and is audited."""
        instance = self.ctx.catalog[draft.provider]
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

    def check_target(self, draft: Draft, account: Account, directory: Directory) -> Target:
        """Find the account's owner in Slack and decide whether they must confirm; refuses (and
        audits) what the provider's policy does not allow."""
        settings = self.ctx.settings
        privileged, why = account.privileged, account.privileged_why
        if privileged and settings.providers[draft.provider].refuse_privileged:
            message = (
                f"{account.label} is an administrator at {self.ctx.catalog.title(draft.provider)}"
                f"{f' ({why})' if why else ''}, and '{draft.provider}' does not reset "
                "administrators' passwords through resetbot."
            )
            self._audit_rejected(draft, "privileged", message)
            raise NotAllowed(message, field="user")
        verify = policy.verify_target(settings, draft.provider, privileged=privileged)
        if not account.email:
            lookup = PersonLookup()
            status = TargetLookup.SKIPPED
        else:
            lookup = directory.find_by_email(account.email)
            if lookup.failed:
                status = TargetLookup.FAILED
            else:
                status = TargetLookup.FOUND if lookup.found else TargetLookup.NOT_FOUND
        if verify == "required" and status is not TargetLookup.FOUND:
            cause = {
                TargetLookup.FAILED: f"I could not look them up in Slack ({lookup.error})",
                TargetLookup.SKIPPED: "the provider knows no e-mail address for them",
            }.get(status, "they are not in this Slack workspace")
            need = "an administrator's account" if privileged else f"'{draft.provider}'"
            message = (
                f"{account.label} must confirm the request in Slack before a reset ({need} "
                f"requires it), but {cause}."
            )
            self._audit_rejected(draft, "target_not_confirmable", message)
            raise NotAllowed(message, field="user")
        return Target(
            lookup=status,
            slack_id=lookup.found,
            error=lookup.error,
            privileged=privileged,
            privileged_why=why,
            confirm=status is TargetLookup.FOUND and verify != "off",
        )

    def reject_unknown_provider(self, requester_id: str, provider: str, user_text: str) -> None:
        """A request naming no configured provider: nothing is filed, but the attempt is kept."""
        name = clean_text(provider, limit=40)
        with self.ctx.store.session() as tx:
            request_store.record(
                tx,
                actor=requester_id,
                action=AuditAction.REJECTED,
                outcome="unknown_provider",
                provider=name,
                target=clean_text(user_text, limit=MAX_USER_TEXT),
                message=f"there is no provider called '{name}'",
            )

    def _audit_rejected(self, draft: Draft, kind: str, message: str) -> None:
        with self.ctx.store.session() as tx:
            request_store.record(
                tx,
                actor=draft.requester_id,
                action=AuditAction.REJECTED,
                outcome=kind,
                provider=draft.provider,
                target=draft.user_text,
                message=message,
            )

    def file(
        self,
        draft: Draft,
        account: Account,
        *,
        origin_channel: str | None,
        target: Target | None = None,
    ) -> RequestView:
        target = target or Target(lookup=TargetLookup.SKIPPED)
        settings = self.ctx.settings
        now = self.ctx.clock()
        with self.ctx.store.session() as tx:
            # Re-checked here too: the role may have been revoked during the look-up.
            if not policy.may_file(self.ctx.roles(tx, draft.requester_id, draft.provider)):
                raise NotAllowed(f"You don't have the requester role for '{draft.provider}'.")
            request_store.serialize_filing(tx)
            self._check_limits(tx, draft, account)
            request = request_store.add(
                tx,
                ResetRequest(
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
                    approvals_required=policy.approvals_for(
                        settings, draft.provider, privileged=target.privileged
                    ),
                    created_at=now,
                    updated_at=now,
                    expires_at=now + timedelta(minutes=settings.request_ttl_minutes),
                    origin_channel=origin_channel,
                    approval_channel=policy.approvals_channel(
                        settings, draft.provider, origin_channel
                    ),
                    approvals=[],  # known empty: reading them for the view needs no query
                    copies=[],
                    target_lookup=target.lookup.value,
                    target_lookup_error=(target.error or "")[:64] or None,
                    target_slack_id=target.slack_id,
                    confirmation=(
                        Confirmation.AWAITING if target.confirm else Confirmation.NOT_NEEDED
                    ).value,
                    privileged=target.privileged,
                    privileged_why=(target.privileged_why or "")[:256] or None,
                ),
            )
            request_store.record(
                tx,
                actor=draft.requester_id,
                action=AuditAction.FILED,
                request=request,
                outcome=RequestState.PENDING.value,
                action_name=draft.action,
                reason=draft.reason,
            )
            return self.ctx.view(request)

    def _check_limits(self, tx: Tx, draft: Draft, account: Account) -> None:
        settings = self.ctx.settings
        mine, same_target = request_store.count_pending(
            tx,
            now=self.ctx.clock(),
            requester_id=draft.requester_id,
            provider=draft.provider,
            target_id=account.id,
        )
        if mine >= settings.max_pending_per_requester:
            raise LimitReached(
                f"You already have {mine} pending requests (the limit is "
                f"{settings.max_pending_per_requester}). Wait for a decision or cancel one."
            )
        if same_target >= settings.max_pending_per_target:
            raise LimitReached(
                f"There is already a pending request for {account.label} at "
                f"'{draft.provider}'. `/reset-password pending` shows it."
            )

    def attach_message(self, request_id: str, channel: str, ts: str) -> None:
        """Remember where the approval message was posted."""
        with self.ctx.store.session() as tx:
            request_store.attach_message(tx, request_id, channel, ts)

    def abandon(self, request_id: str, why: str) -> RequestView | None:
        """Cancel a request nobody can decide (its approval message could not be posted)."""
        with self.ctx.store.session() as tx:
            request = lifecycle.move(
                tx,
                request_id,
                Event.ABANDON,
                actor=SYSTEM,
                outcome="not_posted",
                audit={"message": why},
                finished_at=self.ctx.clock(),
                outcome_kind="not_posted",
                outcome_message=why,
            )
            return self.ctx.view(request) if request is not None else None
