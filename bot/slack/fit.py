"""Text made safe to show: fitted to Block Kit's limits, invisible and bidi controls removed."""

from __future__ import annotations

import re

ELLIPSIS = "…"

# Bidirectional embeddings, overrides and isolates, and the zero-width characters: they
# reorder or hide what an approver reads ("Trojan Source"), so text from users and providers
# never carries them into Slack.
_BIDI_AND_INVISIBLE = (
    "\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u180e\ufeff\ufff9-\ufffb"
)
_HIDDEN = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI_AND_INVISIBLE}]")
# For logs: every control character, line breaks included, so one record stays one line.
_UNPRINTABLE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_AND_INVISIBLE}\u2028\u2029]")
# An escape (``&amp;``) or a Slack reference (``<@U123>``) cut in two would show as garbage.
_OPEN_TOKEN = re.compile(r"(?:&[#\w]{0,8}|<[^<>]{0,200})\Z")


def clean(text: str) -> str:
    """``text`` without bidi, zero-width or control characters (tabs and newlines kept)."""
    return _HIDDEN.sub("", text)


def fit(text: str, limit: int) -> str:
    """``clean(text)``, shortened to at most ``limit`` characters with an ellipsis if longer."""
    text = clean(text)
    if len(text) <= limit:
        return text
    head = text[: max(limit - len(ELLIPSIS), 0)]
    head = _OPEN_TOKEN.sub("", head)
    return head + ELLIPSIS


def visible(text: str) -> str:
    """``text`` with every control, bidi and zero-width character shown as its escape: for
    logs, where a client's newline must not start a forged line."""
    return _UNPRINTABLE.sub(lambda m: _escape(m.group()), text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
