"""Modal submissions: the request form, the approval modal and the deny-reason modal."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.domain.errors import DomainError
from bot.slack import blocks, jobs
from bot.slack import mrkdwn as md
from bot.slack.deps import ListenerDeps
from bot.slack.views_state import form_values, metadata_channel, text_field, view_of
from bot.slack.views_state import user_id as acting_user

log = logging.getLogger(__name__)

FORM_FIELDS = ("provider", "action", "user", "reason")


def register(app: App, deps: ListenerDeps) -> None:
    @app.view(blocks.REQUEST_MODAL)
    def request_submitted(ack: Ack, body: dict[str, Any]) -> None:
        view = view_of(body)
        user_id = acting_user(body)
        values = form_values(view)
        channel = metadata_channel(view)
        try:
            draft = deps.filing.validate(
                user_id,
                values.get("provider", ""),
                values.get("action"),
                values.get("user", ""),
                values.get("reason", ""),
            )
        except DomainError as exc:
            field = exc.field if exc.field in FORM_FIELDS else "reason"
            if field == "action" and "action" not in values:
                field = "provider"
            ack(response_action="errors", errors={field: str(exc)[:150]})
            return
        # Ack at once, like the command: the look-up never sits on the acknowledgement path.
        ack(
            response_action="update",
            view=blocks.notice_modal(
                "Password reset",
                f":mag: Looking up {md.code(draft.user_text)} at {md.code(draft.provider)}…",
            ),
        )
        deps.submit(jobs.form_filing, text_field(view, "id"), draft, channel, values)

    # A decision is written in the background: the modal closes at once, and the rare refusal
    # (the request was decided or expired meanwhile, a role was revoked since the click, which
    # already checked) reaches the approver as an ephemeral beside the approval message.
    @app.view(blocks.APPROVE_MODAL)
    def approve_submitted(ack: Ack, body: dict[str, Any]) -> None:
        view = view_of(body)
        ack()
        deps.submit(
            jobs.approve,
            text_field(view, "private_metadata"),
            acting_user(body),
            form_values(view).get("note"),
        )

    @app.view(blocks.DENY_MODAL)
    def deny_submitted(ack: Ack, body: dict[str, Any]) -> None:
        view = view_of(body)
        try:
            reason = deps.decisions.deny_reason(form_values(view).get("reason", ""))
        except DomainError as exc:
            ack(response_action="errors", errors={"reason": str(exc)[:150]})
            return
        ack()
        deps.submit(jobs.deny, text_field(view, "private_metadata"), acting_user(body), reason)
