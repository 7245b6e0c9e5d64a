"""Short request ids people can read aloud and type: no 0/O, 1/I/L, U confusion."""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_LENGTH = 7  # 30**7 ≈ 2.2e10: collisions are negligible and still checked by the primary key
REQUEST_ID = re.compile(rf"^R-?[{ALPHABET}]{{{_LENGTH}}}$")


def new_request_id() -> str:
    return "R" + "".join(secrets.choice(ALPHABET) for _ in range(_LENGTH))


def normalize_request_id(text: str) -> str | None:
    """``r-abc2345`` → ``RABC2345``; None when it cannot be a request id."""
    candidate = text.strip().strip("`").upper()
    if not REQUEST_ID.match(candidate):
        return None
    return candidate.replace("-", "")
