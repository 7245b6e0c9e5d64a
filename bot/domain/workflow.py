"""What follows each step of the life-cycle: the approval message, the thread, the requester's
DM, the provider call at quorum, the secret's delivery, and the sweeper's rounds."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.domain import policy
from bot.domain.confirmations import Confirmations
from bot.domain.decisions import Decisions
from bot.domain.dispatch import Dispatching
from bot.domain.filing import Filing
from bot.domain.ports import Directory, MessageRef, Notifier, NotPosted
from bot.domain.upkeep import Upkeep
from bot.domain.views import Draft, RequestView
from bot.store.models import Confirmation, RequestState

log = logging.getLogger(__name__)

REFRESH_ROUNDS = 5  # renders of one refresh while the request keeps changing under it


class Workflow:
    def __init__(
        self,
        *,
        filing: Filing,
        decisions: Decisions,
        dispatching: Dispatching,
        upkeep: Upkeep,
        confirmations: Confirmations,
        notifier: Notifier,
        directory: Directory,
    ) -> None:
        self.filing = filing
        self.decisions = decisions
        self.dispatching = dispatching
        self.upkeep = upkeep
        self.confirmations = confirmations
        self.notifier = notifier
        self.directory = directory
        self.ctx = filing.ctx

    def file(self, draft: Draft, origin_channel: str | None) -> RequestView:
        """Resolve the user at the provider, file, post the approval message.

        Raises DomainError or ProviderError (nothing filed), or NotPosted (the request was filed,
        then abandoned: nobody could have decided it), each with a message for the requester.
        """
        self.filing.require_may_file(draft)
        account = self.filing.resolve(draft)
        target = self.filing.check_target(draft, account, self.directory)
        view = self.filing.file(draft, account, origin_channel=origin_channel, target=target)
        where = self.ctx.settings.providers[view.provider].notify_approvers
        if where in ("channel", "both"):
            try:
                ref = self.notifier.post_approval(view)
            except NotPosted as exc:
                self.filing.abandon(view.id, f"approval message could not be posted ({exc.error})")
                raise
            self.filing.attach_message(view.id, ref.channel, ref.ts)
            view = replace(view, approval_channel=ref.channel, approval_ts=ref.ts)
            # A decision or cancel that landed between the insert and the message's id being
            # stored found no message to update: bring it up to date now.
            current = self.ctx.current(view.id)
            if _moved_on(current, view):
                self.refresh(current)
                view = current
        if where in ("dm", "both"):
            view = self._dm_approvers(view, alone=where == "dm")
        if view.confirmation is Confirmation.AWAITING:
            delivered = self.notifier.ask_target(view)
            view = self.confirmations.asked(view.id, delivered=delivered)
            if not delivered:
                self.refresh(view)
                if view.state is not RequestState.PENDING:
                    self.notifier.outcome(view)
        return view

    def _dm_approvers(self, view: RequestView, *, alone: bool) -> RequestView:
        """A copy of the approval message, with its buttons, in every eligible approver's DM;
        when DMs are the only way approvers hear of it and none could be delivered, nobody can
        decide it: abandoned, as for a message that could not be posted."""
        sent = 0
        for person in self.upkeep.deciders(view):
            if person.startswith("S"):
                continue  # a group whose members could not be listed: it has the reminder
            ref = self.notifier.post_copy(view, person, "dm")
            if ref is not None:
                self.upkeep.record_copy(view.id, "dm", ref.channel, ref.ts)
                sent += 1
        if alone and not sent:
            why = "no approver could be told by direct message"
            self.filing.abandon(view.id, why)
            raise NotPosted(
                f"I couldn't tell any approver of {view.provider}: {why}. Nothing was filed.",
                error="no_approver_reached",
            )
        return self.ctx.current(view.id)

    def refresh(self, view: RequestView) -> bool:
        """Bring the approval message and its copies up to ``view``; a failure leaves it marked
        stale for the sweeper.

        Two jobs for one request (a decision and the sweeper, two replicas) can render in one
        order and reach Slack in the other; so after each update the request is read again,
        and rendered again until what Slack last received is what the store holds.
        """
        if not (view.approval_channel and view.approval_ts) and not view.copies:
            self.notifier.request_changed(view)
            return True
        for _ in range(REFRESH_ROUNDS):
            updated = self._render(view)
            current = self.ctx.current(view.id)
            if not updated or _same(current, view):
                break
            view = current
        self.upkeep.mark_message(view, stale=not updated)
        self.notifier.request_changed(view)
        return updated

    def _render(self, view: RequestView) -> bool:
        updated = True
        if view.approval_channel and view.approval_ts:
            updated = self.notifier.update_approval(view)
        for channel, ts, purpose in view.copies:
            updated = self.notifier.update_copy(view, MessageRef(channel, ts), purpose) and updated
        return updated

    def refresh_id(self, request_id: str) -> bool:
        return self.refresh(self.ctx.current(request_id))

    def after_decision(self, request_id: str, actor: str, *, quorum_met: bool) -> None:
        view = self.ctx.current(request_id)
        self.refresh(view)
        if view.state is RequestState.DENIED:
            self.notifier.outcome(view)
            self.notifier.tell_requester(view)
            return
        self.notifier.approval_added(view, actor)
        if quorum_met:
            self.dispatch(request_id)

    def after_confirm(self, request_id: str, *, approved: bool) -> None:
        view = self.ctx.current(request_id)
        self.refresh(view)
        self.notifier.target_answered(view)
        if approved:
            self.dispatch(request_id)

    def after_reject(self, view: RequestView) -> None:
        """ "No, I did not ask": everyone involved hears of it, and security first."""
        channel = policy.security_channel(self.ctx.settings, view.approval_channel)
        if channel:
            self.notifier.alert(channel, view, "the account's owner said they did not ask")
        self.refresh(view)
        self.notifier.outcome(view)
        self.notifier.tell_requester(view)
        self.notifier.tell_people(view, [a.approver_id for a in view.approvals])

    def after_dispute(self, view: RequestView) -> None:
        """ "This wasn't me" after the reset."""
        channel = policy.security_channel(self.ctx.settings, view.approval_channel)
        if channel:
            self.notifier.alert(
                channel, view, "the account's owner says the reset was not their doing"
            )
        self.refresh(view)
        self.notifier.target_answered(view)

    def dispatch(self, request_id: str) -> None:
        outcome = self.dispatching.dispatch(request_id)
        if outcome is None:
            return  # another click, replica or the sweeper got there first
        view = outcome.request
        if outcome.secret is not None:
            delivered = self.notifier.deliver_secret(
                view,
                view.secret_recipient or view.requester_id,
                outcome.secret_label or "secret",
                outcome.secret,
            )
            self.dispatching.record_secret_delivery(
                view.id, delivered=delivered, why="" if delivered else "the DM failed"
            )
            view = self.ctx.current(view.id)
        else:
            self.notifier.tell_requester(view)
        self.refresh(view)
        self.notifier.outcome(view)
        self.tell_owner(view)

    def tell_owner(self, view: RequestView) -> None:
        """After a reset (or one that may have happened), the account's owner hears of it."""
        if view.target_slack_id and view.state in (RequestState.SUCCEEDED, RequestState.UNKNOWN):
            if self.notifier.tell_owner(view):
                self.confirmations.notified(view.id)

    def after_cancel(self, view: RequestView) -> None:
        self.refresh(view)
        self.notifier.outcome(view)

    def sweep(self) -> None:
        """Expire, recover interrupted dispatches, and bring stale messages up to date."""
        for view in self.upkeep.expire_due():
            if self.refresh(view):
                self.notifier.outcome(view)
            self.notifier.tell_requester(view)
        unknown, redispatch = self.dispatching.recover()
        for view in unknown:
            self.refresh(view)
            self.notifier.outcome(view)
            self.notifier.tell_requester(view)
            self.tell_owner(view)
        for request_id in redispatch:
            self.dispatch(request_id)
        for view, deciders in self.upkeep.due_reminders():
            self.notifier.remind(view, deciders, list(self.ctx.settings.admins))
        for view in self.upkeep.due_escalations():
            channel = self.ctx.settings.providers[view.provider].escalation_channel
            ref = self.notifier.post_copy(view, channel, "escalation") if channel else None
            if ref is not None:
                self.upkeep.record_copy(view.id, "escalation", ref.channel, ref.ts)
        for view in self.upkeep.stale_messages():
            self.refresh(view)


def _moved_on(now: RequestView, then: RequestView) -> bool:
    """Whether the request changed in a way its message shows."""
    return (now.state, now.confirmation, len(now.approvals)) != (
        then.state,
        then.confirmation,
        len(then.approvals),
    )


def _same(a: RequestView, b: RequestView) -> bool:
    """Whether two views of a request render alike (the stale flag is not shown)."""
    return replace(a, message_stale=b.message_stale) == b
