"""What follows each step of the life-cycle: the approval message, the thread, the requester's
DM, the provider call at quorum, the secret's delivery, and the sweeper's rounds."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.domain.decisions import Decisions
from bot.domain.dispatch import Dispatching
from bot.domain.filing import Filing
from bot.domain.ports import Notifier, NotPosted
from bot.domain.upkeep import Upkeep
from bot.domain.views import Draft, RequestView
from bot.store.models import RequestState

log = logging.getLogger(__name__)


class Workflow:
    def __init__(
        self,
        *,
        filing: Filing,
        decisions: Decisions,
        dispatching: Dispatching,
        upkeep: Upkeep,
        notifier: Notifier,
    ) -> None:
        self.filing = filing
        self.decisions = decisions
        self.dispatching = dispatching
        self.upkeep = upkeep
        self.notifier = notifier
        self.ctx = filing.ctx

    def file(self, draft: Draft, origin_channel: str | None) -> RequestView:
        """Resolve the user at the provider, file, post the approval message.

        Raises DomainError or ProviderError (nothing filed), or NotPosted (the request was filed,
        then abandoned: nobody could have decided it), each with a message for the requester.
        """
        self.filing.require_may_file(draft)
        account = self.filing.resolve(draft)
        view = self.filing.file(draft, account, origin_channel=origin_channel)
        try:
            ref = self.notifier.post_approval(view)
        except NotPosted as exc:
            self.filing.abandon(view.id, f"approval message could not be posted ({exc.error})")
            raise
        self.filing.attach_message(view.id, ref.channel, ref.ts)
        return replace(view, approval_channel=ref.channel, approval_ts=ref.ts)

    def refresh(self, view: RequestView) -> bool:
        """Bring the approval message up to ``view``; a failure leaves it marked stale for the
        sweeper."""
        if not (view.approval_channel and view.approval_ts):
            return True
        updated = self.notifier.update_approval(view)
        self.upkeep.mark_message(view, stale=not updated)
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

    def dispatch(self, request_id: str) -> None:
        outcome = self.dispatching.dispatch(request_id)
        if outcome is None:
            return  # another click, replica or the sweeper got there first
        view = outcome.request
        if outcome.secret is not None:
            delivered = self.notifier.deliver_secret(
                view, outcome.secret_label or "secret", outcome.secret
            )
            self.dispatching.record_secret_delivery(
                view.id, delivered=delivered, why="" if delivered else "the DM failed"
            )
            view = self.ctx.current(view.id)
        else:
            self.notifier.tell_requester(view)
        self.refresh(view)
        self.notifier.outcome(view)

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
        for request_id in redispatch:
            self.dispatch(request_id)
        for view in self.upkeep.stale_messages():
            self.refresh(view)
