"""The tiny Bolt app the stand-in tests drive, and the people and channel they use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse, Respond
from slack_sdk import WebClient

SIGNING_SECRET = "standin-test-signing-secret"  # noqa: S105
SUPPORT = "C0SUPPORT"
ALICE = "U0ALICE"
BOB = "U0BOB"


def request_modal() -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "request",
        "private_metadata": "meta-1",
        "title": {"type": "plain_text", "text": "Password reset"},
        "submit": {"type": "plain_text", "text": "Request"},
        "blocks": [
            {
                "type": "input",
                "block_id": "provider",
                "label": {"type": "plain_text", "text": "Provider"},
                "element": {
                    "type": "static_select",
                    "action_id": "provider",
                    "options": [
                        {"text": {"type": "plain_text", "text": "Community"}, "value": "community"},
                        {"text": {"type": "plain_text", "text": "Flags"}, "value": "flags"},
                    ],
                },
            },
            {
                "type": "input",
                "block_id": "user",
                "label": {"type": "plain_text", "text": "User"},
                "element": {"type": "plain_text_input", "action_id": "user"},
            },
            {
                "type": "input",
                "block_id": "reason",
                "optional": True,
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason",
                    "initial_value": "lost phone",
                },
            },
        ],
    }


def approval_blocks(request_id: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"Reset request `{request_id}`"}},
        {
            "type": "actions",
            "block_id": "decide",
            "elements": [
                {
                    "type": "button",
                    "action_id": "approve",
                    "value": request_id,
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Approve"},
                },
                {
                    "type": "button",
                    "action_id": "deny",
                    "value": request_id,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Deny"},
                },
            ],
        },
    ]


@dataclass
class Seen:
    """What the tiny app's listeners received, for assertions."""

    commands: list[dict[str, Any]]
    submissions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    retries: list[str | None] = field(default_factory=list)


def build_app(client: WebClient, seen: Seen) -> App:
    """A small Bolt app shaped like resetbot's flow: command → modal → message → button."""
    app = App(client=client, signing_secret=SIGNING_SECRET)

    @app.middleware
    def note_retries(req: BoltRequest, next: Callable[[], BoltResponse]) -> BoltResponse:
        seen.retries.append(req.headers.get("x-slack-retry-num", [None])[0])
        return next()

    @app.action("provider")
    def provider_chosen(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        seen.actions.append(body)
        ack()
        view = body["view"]
        chosen = view["state"]["values"]["provider"]["provider"]["selected_option"]["value"]
        page = request_modal()
        page["blocks"].insert(
            0, {"type": "section", "text": {"type": "mrkdwn", "text": f"Provider: {chosen}"}}
        )
        client.views_update(view_id=view["id"], hash=view["hash"], view=page)

    @app.command("/reset-password")
    def command(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        seen.commands.append(body)
        if body.get("text") == "form":
            client.views_open(trigger_id=body["trigger_id"], view=request_modal())
            ack()
        else:
            ack(text=f"Looking up {body.get('text')}…")

    @app.view("request")
    def submitted(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        seen.submissions.append(body)
        values = body["view"]["state"]["values"]
        if values["user"]["user"]["value"] == "nobody":
            ack(response_action="errors", errors={"user": "No such user"})
            return
        ack()
        client.chat_postMessage(
            channel=SUPPORT, text="Reset request r1", blocks=approval_blocks("r1")
        )

    @app.action("approve")
    def approve(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        seen.actions.append(body)
        ack()
        message = body["message"]
        client.chat_update(
            channel=body["channel"]["id"],
            ts=message["ts"],
            text="Approved",
            blocks=[
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"Approved by <@{body['user']['id']}>"},
                }
            ],
        )
        client.chat_postMessage(
            channel=body["channel"]["id"], thread_ts=message["ts"], text="Done: password reset"
        )
        respond(text="You approved it", response_type="ephemeral", replace_original=False)

    return app


@dataclass
class BoltServer:
    app: App
    events_url: str
    seen: Seen
