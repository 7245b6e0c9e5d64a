"""The domain's Directory over Slack: who an e-mail address belongs to in the workspace."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain.ports import PersonLookup
from bot.slack.notifier import slack_error

log = logging.getLogger(__name__)


class SlackDirectory:
    def __init__(self, client: WebClient) -> None:
        self.client = client

    def find_by_email(self, email: str) -> PersonLookup:
        try:
            response = self.client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            error = slack_error(exc)
            if error == "users_not_found":
                return PersonLookup()
            log.warning("users.lookupByEmail failed: %s", error)
            return PersonLookup(error=error)
        except (SlackClientError, OSError) as exc:  # unreachable, timed out
            log.warning("users.lookupByEmail failed: %s", type(exc).__name__)
            return PersonLookup(error=type(exc).__name__)
        user = response.get("user") or {}
        # A deactivated account or a bot cannot be the person who confirms.
        if not isinstance(user, dict) or user.get("deleted") or user.get("is_bot"):
            return PersonLookup()
        user_id = str(user.get("id") or "")
        return PersonLookup(found=user_id) if user_id else PersonLookup()
