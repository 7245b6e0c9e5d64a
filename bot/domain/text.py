"""What people type, cleaned and checked once: request text, reasons, notes, e-mail addresses."""

from __future__ import annotations

import re

from providers.common import is_email

__all__ = ["MAX_NOTE", "MAX_REASON", "MAX_USER_TEXT", "clean_text", "is_email"]

MAX_REASON = 500
MAX_NOTE = 500
MAX_USER_TEXT = 254  # the longest valid e-mail address
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_text(text: str, *, limit: int) -> str:
    """Collapse control characters and surrounding space; cut to ``limit`` characters."""
    return _CONTROL.sub(" ", text).strip()[:limit]
