"""Modal submissions: the request form, the approval modal and the deny-reason modal."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.domain.errors import DomainError
from bot.domain.service import Draft
from bot.slack import blocks
from bot.slack import mrkdwn as md
from bot.slack.delivery import ACK_WAIT, ack_sent
from bot.slack.views_state import form_values, metadata_channel, text_field, view_of
from bot.slack.views_state import user_id as acting_user

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

FORM_FIELDS = ("provider", "action", "user", "reason")


def register(app: App, rt: Runtime) -> None:
    @app.view(blocks.REQUEST_MODAL)
    def request_submitted(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        view = view_of(body)
        user_id = acting_user(body)
        values = form_values(view)
        channel = metadata_channel(view)
        try:
            draft = rt.service.validate(user_id, values.get("provider", ""),
                                        values.get("action"), values.get("user", ""),
                                        values.get("reason", ""))
        except DomainError as exc:
            field = exc.field if exc.field in FORM_FIELDS else "reason"
            if field == "action" and "action" not in values:
                field = "provider"
            ack(response_action="errors", errors={field: str(exc)[:150]})
            return
        # Ack at once, like the command: the look-up never sits on the acknowledgement path.
        ack(response_action="update", view=blocks.notice_modal(
            "Password reset",
            f":mag: Looking up {md.code(draft.user_text)} at {md.code(draft.provider)}…",
        ))
        rt.submit(show_outcome, rt, client, text_field(view, "id"), draft, channel, values,
                  ack_sent())

    @app.view(blocks.APPROVE_MODAL)
    def approve_submitted(ack: Ack, body: dict[str, Any]) -> None:
        view = view_of(body)
        user_id = acting_user(body)
        note = form_values(view).get("note")
        try:
            decision = rt.service.approve(text_field(view, "private_metadata"), user_id, note)
        except DomainError as exc:
            ack(response_action="errors", errors={"note": str(exc)[:150]})
            return
        ack()
        rt.submit(rt.workflows.after_decision, decision.request.id, user_id,
                  quorum_met=decision.quorum_met)

    @app.view(blocks.DENY_MODAL)
    def deny_submitted(ack: Ack, body: dict[str, Any]) -> None:
        view = view_of(body)
        user_id = acting_user(body)
        reason = form_values(view).get("reason", "")
        try:
            denied = rt.service.deny(text_field(view, "private_metadata"), user_id, reason)
        except DomainError as exc:
            ack(response_action="errors", errors={"reason": str(exc)[:150]})
            return
        ack()
        rt.submit(rt.workflows.after_decision, denied.id, user_id, quorum_met=False)


def form_outcome(rt: Runtime, draft: Draft, channel: str | None,
                 values: dict[str, str]) -> dict[str, Any]:
    """Resolve, file and post; the page the form shows next (the form again on trouble)."""
    filed, message = rt.workflows.file_and_answer(draft, channel)
    if filed is not None:
        return blocks.notice_modal("Request filed", message)
    return blocks.request_modal(rt.provider_menu(), channel=channel, selected=draft.provider,
                                values=values, error=message)


def show_outcome(rt: Runtime, client: WebClient, view_id: str, draft: Draft,
                 channel: str | None, values: dict[str, str],
                 sent: threading.Event | None) -> None:
    """Replace the "Looking up…" page with the outcome, once that page's ack has been written
    (so the outcome can never arrive first and then be hidden by the placeholder)."""
    try:
        page = form_outcome(rt, draft, channel, values)
    except Exception:  # a bug: logged; the person must not be left looking at "Looking up…"
        log.exception("filing from the form failed")
        page = blocks.notice_modal(
            "Password reset", ":x: Something went wrong; it is logged. "
            "`/reset-password status` shows whether the request was filed.")
    if sent is not None:
        sent.wait(ACK_WAIT)
    try:
        client.views_update(view_id=view_id, view=page)
    except (SlackApiError, SlackRequestError):
        # The modal was closed meanwhile: answer where the person started instead.
        if channel:
            rt.notifier.ephemeral(channel, draft.requester_id, _page_text(page))


def _page_text(page: dict[str, Any]) -> str:
    first = (page.get("blocks") or [{}])[0]
    return str((first.get("text") or {}).get("text") or "")
