"""Buttons: Approve and Deny on the approval message, and the provider select in the form."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.domain.errors import DomainError, WrongState
from bot.slack import blocks, jobs
from bot.slack import mrkdwn as md
from bot.slack.deps import ListenerDeps
from bot.slack.notifier import slack_error
from bot.slack.views_state import (
    first_action,
    form_values,
    metadata_channel,
    text_field,
    view_of,
)
from bot.slack.views_state import user_id as acting_user

log = logging.getLogger(__name__)


def _clicked(body: dict[str, Any]) -> tuple[str, str]:
    return acting_user(body), text_field(first_action(body), "value")


def _tell(respond: Respond, text: str) -> None:
    """An ephemeral to the person who clicked; a response_url that does not work is logged."""
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except (SlackApiError, SlackRequestError, ValueError, OSError) as exc:
        log.warning("could not answer a click via its response_url: %s", type(exc).__name__)


def register(app: App, deps: ListenerDeps) -> None:
    def open_decision(ack: Ack, body: dict[str, Any], respond: Respond, render: Any) -> None:
        ack()
        user_id, request_id = _clicked(body)
        try:
            view = deps.decisions.check_decider(request_id, user_id)
        except DomainError as exc:
            _tell(respond, f":no_entry: {md.escape(str(exc))}")
            if isinstance(exc, WrongState):
                deps.submit(jobs.refresh, request_id)
            return
        try:
            deps.client.views_open(trigger_id=text_field(body, "trigger_id"), view=render(view))
        except (SlackApiError, SlackRequestError, OSError) as exc:
            # Most often an expired trigger (Slack gives 3 s); a second click gets a fresh one.
            _tell(
                respond,
                f":warning: Slack could not open the dialog ({slack_error(exc)}); "
                "please try again.",
            )

    @app.action(blocks.APPROVE_ACTION)
    def approve_clicked(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        open_decision(ack, body, respond, blocks.approve_modal)

    @app.action(blocks.DENY_ACTION)
    def deny_clicked(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        open_decision(ack, body, respond, blocks.deny_modal)

    # The account owner's answers, in their DM: recorded in the background (only the owner's
    # own click counts, checked there), the DM then replaced with what they answered.
    def owner_answers(ack: Ack, body: dict[str, Any], answer: str) -> None:
        ack()
        user_id, request_id = _clicked(body)
        deps.submit(
            jobs.owner_answer, request_id, user_id, answer, text_field(body, "response_url")
        )

    @app.action(blocks.CONFIRM_ACTION)
    def owner_confirms(ack: Ack, body: dict[str, Any]) -> None:
        owner_answers(ack, body, jobs.CONFIRM)

    @app.action(blocks.REJECT_ACTION)
    def owner_rejects(ack: Ack, body: dict[str, Any]) -> None:
        owner_answers(ack, body, jobs.REJECT)

    @app.action(blocks.DISPUTE_ACTION)
    def owner_disputes(ack: Ack, body: dict[str, Any]) -> None:
        owner_answers(ack, body, jobs.DISPUTE)

    @app.action(blocks.CANCEL_ACTION)
    def cancel_clicked(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user_id, request_id = _clicked(body)
        deps.submit(jobs.cancel_from_home, user_id, request_id)

    @app.event("app_home_opened")
    def home_opened(ack: Ack, event: dict[str, Any]) -> None:
        ack()
        if event.get("tab") == "home" and isinstance(event.get("user"), str):
            deps.submit(jobs.publish_home, event["user"])

    @app.action(blocks.PROVIDER_SELECT)
    def provider_chosen(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        view = view_of(body)
        values = form_values(view)
        if not text_field(view, "id"):
            return  # not a pick in our form: nothing to update
        try:
            deps.client.views_update(
                view_id=text_field(view, "id"),
                hash=text_field(view, "hash") or None,
                view=blocks.request_modal(
                    deps.catalog.menu(),
                    channel=metadata_channel(view),
                    selected=values.get("provider"),
                    values=values,
                ),
            )
        except SlackApiError as exc:  # closed meanwhile, or changed by a newer pick (hash)
            log.info("request form not updated: %s", slack_error(exc))
