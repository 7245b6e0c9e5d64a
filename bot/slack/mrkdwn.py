"""Escaping user text for Slack mrkdwn, so it can neither ping people nor fake a link."""

from __future__ import annotations

from datetime import datetime

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(text: str | None) -> str:
    """Slack's three control characters escaped: ``<!channel>`` and ``<http://x|y>`` stay text."""
    return (text or "").translate(_ESCAPES)


def code(text: str | None) -> str:
    """Inline code span for identifiers (request ids, e-mails); backticks cannot break out."""
    return "`" + escape(text).replace("`", "'") + "`"


def subject(subject_id: str) -> str:
    """A mention of a person or, for an ``S…`` id, of a user group (Slack shows its handle)."""
    if subject_id.startswith("S") and subject_id.isalnum():
        return f"<!subteam^{subject_id}>"
    return user(subject_id)


def user(user_id: str) -> str:
    """A mention of a Slack user id we got from Slack itself (never from free text)."""
    if not user_id.isalnum():
        return escape(user_id)
    return f"<@{user_id}>"


def channel(channel_id: str) -> str:
    if not channel_id.isalnum():
        return escape(channel_id)
    return f"<#{channel_id}>"


def date(at: datetime) -> str:
    """Shown in each reader's own time zone; the fallback is UTC."""
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"
