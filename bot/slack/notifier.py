"""The domain's Notifier over Slack's Web API: the approval message, its thread, DMs."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain.ports import MessageRef, NotPosted
from bot.domain.views import RequestView
from bot.slack import blocks
from bot.slack import mrkdwn as md

log = logging.getLogger(__name__)

# Every way a Web API call can fail: Slack's error answer, or no answer at all (a connection
# reset or refused, a time-out: ``OSError``s the client re-raises once its retries are spent).
CALL_FAILED = (SlackClientError, OSError, http.client.HTTPException)

# What the requester can do when the approval message could not be posted, by Slack's error.
POST_HINTS = {
    "not_in_channel": "invite the bot to the channel (`/invite @resetbot`)",
    "channel_not_found": "the bot cannot see that channel; invite it, or set "
    "`approvals_channel` for the provider",
    "is_archived": "the channel is archived",
}


def slack_error(exc: Exception) -> str:
    """Slack's error code, or what kept the call from reaching Slack (time-out, refused…)."""
    if not isinstance(exc, SlackApiError):
        return type(exc).__name__
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict):
        return str(data.get("error") or "unknown_error")
    return f"http_{getattr(exc.response, 'status_code', '?')}"


class SlackNotifier:
    def __init__(self, client: WebClient) -> None:
        self.client = client
        # Who has a Home tab published by this process, and what to do when a request
        # changes (the composition root re-publishes them in the background).
        self.home_viewers: set[str] = set()
        self.on_change: Callable[[], None] = lambda: None

    def post_approval(self, view: RequestView) -> MessageRef:
        channel = view.approval_channel
        try:
            if not channel:
                raise NotPosted("no channel to post to", error="no channel to post to")
            response = self.client.chat_postMessage(
                channel=channel,
                unfurl_links=False,
                unfurl_media=False,
                **blocks.approval_message(view),
            )
        except (*CALL_FAILED, NotPosted) as exc:
            error = exc.error if isinstance(exc, NotPosted) else slack_error(exc)
            log.warning("approval message for %s not posted: %s", view.id, error)
            hint = POST_HINTS.get(error, "try again in a minute")
            raise NotPosted(
                f"I couldn't post the approval message in {md.channel(channel or '?')}: "
                f"{error} — {hint}. Nothing was filed.",
                error=error,
            ) from exc
        return MessageRef(str(response["channel"]), str(response["ts"]))

    def update_approval(self, view: RequestView) -> bool:
        assert view.approval_channel and view.approval_ts
        try:
            self.client.chat_update(
                channel=view.approval_channel,
                ts=view.approval_ts,
                **blocks.approval_message(view),
            )
        except CALL_FAILED as exc:
            log.warning("approval message of %s not updated: %s", view.id, slack_error(exc))
            return False
        return True

    def approval_added(self, view: RequestView, approver: str) -> bool:
        return self.thread(
            view,
            f"{md.user(approver)} approved ({len(view.approvals)} of {view.approvals_required}).",
        )

    def outcome(self, view: RequestView) -> bool:
        return self.thread(view, blocks.thread_outcome(view))

    def tell_requester(self, view: RequestView) -> bool:
        return self.tell(view.requester_id, blocks.requester_update(view))

    def deliver_secret(
        self, view: RequestView, recipient: str, label: str, secret: SecretStr
    ) -> bool:
        payload = blocks.secret_dm(view, label, secret.get_secret_value())
        return self.tell(
            recipient,
            "Your reset succeeded; the secret is in this message.",
            blocks=payload["blocks"],
        )

    def ask_target(self, view: RequestView) -> bool:
        assert view.target_slack_id
        payload = blocks.target_confirmation(view)
        return self.tell(view.target_slack_id, payload["text"], blocks=payload["blocks"])

    def target_answered(self, view: RequestView) -> bool:
        if view.disputed_at and view.target_slack_id:
            text = (
                f":rotating_light: {md.user(view.target_slack_id)} says this reset was not theirs."
            )
        elif view.target_slack_id and view.confirmed_at:
            text = f"{md.user(view.target_slack_id)} confirmed that the request is theirs."
        else:
            return True
        return self.thread(view, text)

    def tell_people(self, view: RequestView, people: list[str]) -> bool:
        text = blocks.people_update(view)
        return all([self.tell(person, text) for person in dict.fromkeys(people)])

    def tell_owner(self, view: RequestView) -> bool:
        assert view.target_slack_id
        payload = blocks.owner_notice(view)
        return self.tell(view.target_slack_id, payload["text"], blocks=payload["blocks"])

    def remind(self, view: RequestView, deciders: list[str], admins: list[str]) -> bool:
        return self.thread(view, blocks.reminder(view, deciders, admins))

    def post_copy(self, view: RequestView, where: str, purpose: str) -> MessageRef | None:
        escalated = purpose == "escalation"
        try:
            if where[:1] in ("U", "W"):  # a person: their DM with the bot
                where = self.client.conversations_open(users=where)["channel"]["id"]
            response = self.client.chat_postMessage(
                channel=where,
                unfurl_links=False,
                unfurl_media=False,
                **blocks.approval_message(view, escalated=escalated),
            )
        except SlackApiError as exc:
            log.warning("%s copy of %s not posted: %s", purpose, view.id, slack_error(exc))
            return None
        return MessageRef(str(response["channel"]), str(response["ts"]))

    def update_copy(self, view: RequestView, ref: MessageRef, purpose: str) -> bool:
        try:
            self.client.chat_update(
                channel=ref.channel,
                ts=ref.ts,
                **blocks.approval_message(view, escalated=purpose == "escalation"),
            )
        except SlackApiError as exc:
            log.warning("%s copy of %s not updated: %s", purpose, view.id, slack_error(exc))
            return False
        return True

    def request_changed(self, view: RequestView) -> None:
        if self.home_viewers:
            self.on_change()

    def alert(self, channel: str, view: RequestView, what: str) -> bool:
        return self._post(channel=channel, **blocks.security_alert(view, what))

    def thread(self, view: RequestView, text: str) -> bool:
        if not (view.approval_channel and view.approval_ts):
            return False
        return self._post(channel=view.approval_channel, thread_ts=view.approval_ts, text=text)

    def tell(self, user_id: str, text: str, **extra: Any) -> bool:
        """Direct message from the bot; the only route a secret ever takes."""
        try:
            opened = self.client.conversations_open(users=user_id)
            channel = opened["channel"]["id"]
        except CALL_FAILED as exc:
            log.warning("could not open a DM with %s: %s", user_id, slack_error(exc))
            return False
        return self._post(channel=channel, text=text, **extra)

    def ephemeral(self, channel: str, user_id: str, text: str) -> bool:
        try:
            self.client.chat_postEphemeral(channel=channel, user=user_id, text=text)
        except CALL_FAILED as exc:
            log.warning("ephemeral to %s not posted: %s", user_id, slack_error(exc))
            return False
        return True

    def _post(self, **kwargs: Any) -> bool:
        try:
            self.client.chat_postMessage(unfurl_links=False, unfurl_media=False, **kwargs)
        except CALL_FAILED as exc:
            log.warning("message not posted: %s", slack_error(exc))
            return False
        return True
