"""Buttons: Approve and Deny on the approval message, and the provider select in the form."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.errors import DomainError, WrongState
from bot.slack import blocks
from bot.slack import mrkdwn as md
from bot.slack.notify import slack_error
from bot.slack.views_state import form_values

if TYPE_CHECKING:
    from bot.runtime import Runtime


def _clicked(body: dict[str, Any]) -> tuple[str, str]:
    action = (body.get("actions") or [{}])[0]
    return str(body.get("user", {}).get("id", "")), str(action.get("value", ""))


def register(app: App, rt: Runtime) -> None:
    def open_decision(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond,
                      render: Any) -> None:
        ack()
        user_id, request_id = _clicked(body)
        try:
            view = rt.service.check_decider(request_id, user_id)
        except DomainError as exc:
            respond(text=f":no_entry: {md.escape(str(exc))}", response_type="ephemeral",
                    replace_original=False)
            if isinstance(exc, WrongState):
                rt.submit(rt.notifier.refresh, request_id)
            return
        try:
            client.views_open(trigger_id=body["trigger_id"], view=render(view))
        except SlackApiError as exc:
            # Most often an expired trigger (Slack gives 3 s); a second click gets a fresh one.
            respond(text=f":warning: Slack could not open the dialog ({slack_error(exc)}); "
                         "please try again.", response_type="ephemeral", replace_original=False)

    @app.action(blocks.APPROVE_ACTION)
    def approve_clicked(ack: Ack, body: dict[str, Any], client: WebClient,
                        respond: Respond) -> None:
        open_decision(ack, body, client, respond, blocks.approve_modal)

    @app.action(blocks.DENY_ACTION)
    def deny_clicked(ack: Ack, body: dict[str, Any], client: WebClient,
                     respond: Respond) -> None:
        open_decision(ack, body, client, respond, blocks.deny_modal)

    @app.action(blocks.PROVIDER_SELECT)
    def provider_chosen(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        view = body.get("view") or {}
        values = form_values(view)
        try:
            channel = json.loads(view.get("private_metadata") or "{}").get("channel")
        except ValueError:
            channel = None
        client.views_update(
            view_id=view["id"], hash=view.get("hash"),
            view=blocks.request_modal(rt.provider_menu(), channel=channel,
                                      selected=values.get("provider"), values=values),
        )
