"""Slack side effects: the approval message, its thread, DMs; failures leave a stale flag."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.service import RequestView, ResetService
from bot.slack import blocks
from bot.slack import mrkdwn as md

log = logging.getLogger(__name__)


class PostFailed(Exception):
    """The approval message could not be posted; the request was abandoned."""


def slack_error(exc: Exception) -> str:
    """Slack's error code, or what kept the call from reaching Slack (time-out, refused…)."""
    if not isinstance(exc, SlackApiError):
        return type(exc).__name__
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict):
        return str(data.get("error") or "unknown_error")
    return f"http_{getattr(exc.response, 'status_code', '?')}"


class SlackNotifier:
    def __init__(self, client: WebClient, service: ResetService) -> None:
        self.client = client
        self.service = service

    def post_approval(self, view: RequestView) -> RequestView:
        """Post the approval message; a request nobody can see is abandoned, not left pending."""
        channel = view.approval_channel
        try:
            if not channel:
                raise PostFailed("no channel to post to")
            response = self.client.chat_postMessage(
                channel=channel,
                unfurl_links=False,
                unfurl_media=False,
                **blocks.approval_message(view),
            )
        except (SlackApiError, PostFailed) as exc:
            error = slack_error(exc) if isinstance(exc, SlackApiError) else str(exc)
            log.warning("approval message for %s not posted: %s", view.id, error)
            hint = {
                "not_in_channel": "invite the bot to the channel (`/invite @resetbot`)",
                "channel_not_found": "the bot cannot see that channel; invite it, or set "
                "`approvals_channel` for the provider",
                "is_archived": "the channel is archived",
            }.get(error, "try again in a minute")
            self.service.abandon(view.id, f"approval message could not be posted ({error})")
            raise PostFailed(
                f"I couldn't post the approval message in {md.channel(channel or '?')}: "
                f"{error} — {hint}. Nothing was filed."
            ) from exc
        channel, ts = str(response["channel"]), str(response["ts"])
        self.service.attach_message(view.id, channel, ts)
        return replace(view, approval_channel=channel, approval_ts=ts)

    def refresh(self, request_id: str) -> bool:
        """Re-render the approval message from the stored state; False leaves it stale."""
        view = self.service.view(request_id)
        if not (view.approval_channel and view.approval_ts):
            return True
        try:
            self.client.chat_update(
                channel=view.approval_channel,
                ts=view.approval_ts,
                **blocks.approval_message(view),
            )
        except SlackApiError as exc:
            log.warning("approval message of %s not updated: %s", view.id, slack_error(exc))
            self.service.mark_message(view.id, stale=True)
            return False
        self.service.mark_message(view.id, stale=False)
        return True

    def thread(self, view: RequestView, text: str) -> bool:
        if not (view.approval_channel and view.approval_ts):
            return False
        return self._post(channel=view.approval_channel, thread_ts=view.approval_ts, text=text)

    def tell(self, user_id: str, text: str, **extra: Any) -> bool:
        """Direct message from the bot; the only route a secret ever takes."""
        try:
            opened = self.client.conversations_open(users=user_id)
            channel = opened["channel"]["id"]
        except SlackApiError as exc:
            log.warning("could not open a DM with %s: %s", user_id, slack_error(exc))
            return False
        return self._post(channel=channel, text=text, **extra)

    def ephemeral(self, channel: str, user_id: str, text: str) -> bool:
        try:
            self.client.chat_postEphemeral(channel=channel, user=user_id, text=text)
        except SlackApiError as exc:
            log.warning("ephemeral to %s not posted: %s", user_id, slack_error(exc))
            return False
        return True

    def _post(self, **kwargs: Any) -> bool:
        try:
            self.client.chat_postMessage(unfurl_links=False, unfurl_media=False, **kwargs)
        except SlackApiError as exc:
            log.warning("message not posted: %s", slack_error(exc))
            return False
        return True
