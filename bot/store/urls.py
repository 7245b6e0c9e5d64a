"""Database URLs: whether one can be parsed, and how to print one without its password."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MASK = "********"


def is_database_url(url: str) -> bool:
    try:
        make_url(url)
    except ArgumentError:
        return False
    return True


def mask_url(url: str) -> str:
    """A database URL that is safe to print: any password becomes ``********``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return MASK
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True).replace(":***@", f":{MASK}@", 1)
