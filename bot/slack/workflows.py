"""The slow half of each interaction, run in the background after Slack has its ack."""

from __future__ import annotations

import logging

from bot.domain.errors import DomainError
from bot.domain.service import Draft, RequestView, ResetService
from bot.slack import blocks
from bot.slack import mrkdwn as md
from bot.slack.notify import PostFailed, SlackNotifier
from bot.store.models import RequestState
from providers.base import ProviderError

log = logging.getLogger(__name__)


class Workflows:
    def __init__(self, service: ResetService, notifier: SlackNotifier) -> None:
        self.service = service
        self.notifier = notifier

    def file(self, draft: Draft, origin_channel: str | None) -> RequestView:
        """Resolve the user at the provider, file, post the approval message.

        Raises DomainError / ProviderError / PostFailed with a message for the requester.
        """
        self.service.require_may_file(draft)
        account = self.service.resolve(draft)
        view = self.service.file(draft, account, origin_channel=origin_channel)
        return self.notifier.post_approval(view)

    def file_and_answer(
        self, draft: Draft, origin_channel: str | None
    ) -> tuple[RequestView | None, str]:
        """File as ``file`` does; the request (None if nothing was filed) and what to tell the
        requester, whatever happened."""
        try:
            view = self.file(draft, origin_channel)
        except (DomainError, ProviderError) as exc:
            return None, f":warning: {md.escape(str(exc))} Nothing was filed."
        except PostFailed as exc:
            return None, f":warning: {exc}"
        return view, filed_text(view)

    def after_decision(self, request_id: str, actor: str, *, quorum_met: bool) -> None:
        view = self.service.view(request_id)
        self.notifier.refresh(request_id)
        if view.state is RequestState.DENIED:
            self.notifier.thread(view, blocks.thread_outcome(view))
            self.notifier.tell(view.requester_id, blocks.requester_update(view))
            return
        self.notifier.thread(
            view,
            f"{md.user(actor)} approved ({len(view.approvals)} of {view.approvals_required}).",
        )
        if quorum_met:
            self.dispatch(request_id)

    def dispatch(self, request_id: str) -> None:
        outcome = self.service.dispatch(request_id)
        if outcome is None:
            return  # another click, replica or the sweeper got there first
        view = outcome.request
        if outcome.secret is not None:
            delivered = self.notifier.tell(
                view.requester_id,
                "Your reset succeeded; the secret is in this message.",
                **secret_payload(
                    view, outcome.secret_label or "secret", outcome.secret.get_secret_value()
                ),
            )
            self.service.record_secret_delivery(
                view.id, delivered=delivered, why="" if delivered else "the DM failed"
            )
            view = self.service.view(view.id)
        else:
            self.notifier.tell(view.requester_id, blocks.requester_update(view))
        self.notifier.refresh(view.id)
        self.notifier.thread(view, blocks.thread_outcome(view))

    def after_cancel(self, view: RequestView) -> None:
        self.notifier.refresh(view.id)
        self.notifier.thread(view, blocks.thread_outcome(view))

    def sweep(self) -> None:
        """Expire, recover interrupted dispatches, and bring stale messages up to date."""
        for view in self.service.expire_due():
            if self.notifier.refresh(view.id):
                self.notifier.thread(view, blocks.thread_outcome(view))
            self.notifier.tell(view.requester_id, blocks.requester_update(view))
        unknown, redispatch = self.service.recover()
        for view in unknown:
            self.notifier.refresh(view.id)
            self.notifier.thread(view, blocks.thread_outcome(view))
            self.notifier.tell(view.requester_id, blocks.requester_update(view))
        for request_id in redispatch:
            self.dispatch(request_id)
        for view in self.service.stale_messages():
            self.notifier.refresh(view.id)


def filed_text(view: RequestView) -> str:
    where = md.channel(view.approval_channel) if view.approval_channel else "the channel"
    return (
        f":inbox_tray: Request {md.code(view.id)} filed: {md.escape(view.description)}. "
        f"It waits for approval in {where} until {md.date(view.expires_at)}."
    )


def secret_payload(view: RequestView, label: str, secret: str) -> dict[str, object]:
    payload = blocks.secret_dm(view, label, secret)
    return {"blocks": payload["blocks"]}
