"""Parsing ``/reset-password`` text into a typed command, or a clear complaint when it is wrong."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.slack import mrkdwn as md
from bot.store.models import Role

# mrkdwn: the placeholders' angle brackets are escaped, or Slack reads `<@user>` as a mention
# and `<provider>` as a link and shows neither.
USAGE = md.escape(
    "`/reset-password` opens a form, or:\n"
    "• `/reset-password <provider> [action] <user e-mail or id> <reason…>` files a request\n"
    "• `/reset-password status [id]` · `cancel <id>` · `pending` · `providers` · `help`\n"
    "• `/reset-password roles grant|revoke <@user> <requester|approver|admin> [provider]`"
    " · `roles list [@user]` (admins)"
)

# Every provider kind's action names (see providers/); instances may offer fewer.
ACTION_WORDS = frozenset({"reset", "allow", "revoke"})
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_MAILTO = re.compile(r"^<mailto:([^|>]+)(?:\|[^>]*)?>$")


class ParseError(ValueError):
    """The text cannot be a command; the message says what to type instead."""


@dataclass(frozen=True, slots=True)
class OpenForm:
    pass


@dataclass(frozen=True, slots=True)
class Help:
    unknown: str | None = None  # the word we did not understand, if any


@dataclass(frozen=True, slots=True)
class Status:
    request_id: str | None


@dataclass(frozen=True, slots=True)
class Cancel:
    request_id: str


@dataclass(frozen=True, slots=True)
class Pending:
    pass


@dataclass(frozen=True, slots=True)
class Providers:
    pass


@dataclass(frozen=True, slots=True)
class RolesChange:
    grant: bool
    user_id: str
    role: Role
    provider: str | None


@dataclass(frozen=True, slots=True)
class RolesList:
    user_id: str | None


@dataclass(frozen=True, slots=True)
class FileRequest:
    provider: str
    action: str | None
    user: str
    reason: str


Command = (
    OpenForm | Help | Status | Cancel | Pending | Providers | RolesChange | RolesList | FileRequest
)


_SHLEX_SPECIAL = re.compile(r"[\"'\\]")  # quotes and escapes: shlex's business
_SHLEX_SPACE = re.compile(r"[ \t\r\n]+")  # shlex's whitespace (str.split's is wider)


def _split(text: str) -> list[str]:
    # Slack sends curly quotes from some keyboards; a stray quote must not make the text unusable.
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2018", "'")
    text = text.replace("\u2019", "'")
    if not _SHLEX_SPECIAL.search(text):
        # What shlex would return, without its character-by-character lexer (most commands).
        return [w for w in _SHLEX_SPACE.split(text) if w]
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def words(text: str) -> list[str]:
    """The words of command text, quotes honoured as ``parse`` reads them."""
    return _split(text.strip())


_SUBTEAM = re.compile(r"^<!subteam\^(S[A-Z0-9]+)(?:\|[^>]*)?>$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")


def parse_subject(token: str) -> str:
    """Who a role goes to: a person (``<@U…>``, ``U…``) or a user group, as Slack writes a group
    mention (``<!subteam^S…|@managers>``) or its id (``S…``). A plain ``@name`` is refused: it
    could be a person or a group, and only Slack's mention says which."""
    match = _SUBTEAM.match(token)
    if match:
        return match.group(1)
    if _GROUP_ID.match(token):
        return token
    return parse_user(token)


def parse_user(token: str) -> str:
    match = _MENTION.match(token)
    if match:
        return match.group(1)
    if _USER_ID.match(token):
        return token
    raise ParseError(
        f"'{token[:40]}' is not a Slack user. Mention the person or group (pick @name from "
        "Slack's list) or give their id (U… or S…)."
    )


def parse(text: str, providers: Mapping[str, Sequence[str]]) -> Command:
    """``providers`` maps each instance name to its action names (the first is the default)."""
    words = _split(text.strip())
    if not words:
        return OpenForm()
    head, rest = words[0].lower(), words[1:]
    if head in {"help", "-h", "--help", "?"}:
        return Help()
    if head == "status":
        if len(rest) > 1:
            raise ParseError("Usage: `/reset-password status [request id]`")
        return Status(rest[0] if rest else None)
    if head == "cancel":
        if len(rest) != 1:
            raise ParseError("Usage: `/reset-password cancel <request id>`")
        return Cancel(rest[0])
    if head == "pending":
        return Pending()
    if head == "providers":
        return Providers()
    if head == "roles":
        return _parse_roles(rest, providers)
    if head in providers:
        return _parse_request(head, rest, providers[head])
    return Help(unknown=words[0])


def _parse_roles(rest: list[str], providers: Mapping[str, Sequence[str]]) -> Command:
    usage = (
        "Usage: `/reset-password roles grant|revoke <@user> <requester|approver|admin> "
        "[provider]` or `roles list [@user]`"
    )
    if not rest:
        raise ParseError(usage)
    op = rest[0].lower()
    if op == "list":
        if len(rest) > 2:
            raise ParseError(usage)
        return RolesList(parse_user(rest[1]) if len(rest) == 2 else None)
    if op not in {"grant", "revoke"} or len(rest) not in {3, 4}:
        raise ParseError(usage)
    user_id = parse_subject(rest[1])
    try:
        role = Role(rest[2].lower())
    except ValueError:
        raise ParseError(
            f"'{rest[2][:20]}' is not a role. Roles: requester, approver, admin."
        ) from None
    provider = rest[3].lower() if len(rest) == 4 else None
    if provider is not None and provider not in providers:
        known = ", ".join(sorted(providers)) or "none configured"
        raise ParseError(f"There is no provider called '{provider[:40]}'. Configured: {known}.")
    return RolesChange(op == "grant", user_id, role, provider)


def _parse_request(provider: str, rest: list[str], actions: Sequence[str]) -> FileRequest:
    usage = (
        f"Usage: `/reset-password {provider} "
        + (f"[{'|'.join(actions)}] " if len(actions) > 1 else "")
        + "<user e-mail or id> <reason…>`"
    )
    action = None
    # A known action word is never a user, even where this instance lacks the action (Tyk
    # without a dashboard_key): the service then says which actions the instance offers.
    if len(rest) >= 2 and rest[0].lower() in {*actions, *ACTION_WORDS}:
        action, rest = rest[0].lower(), rest[1:]
    if not rest:
        raise ParseError(f"Say whose password to reset. {usage}")
    if len(rest) < 2:
        raise ParseError(f"Give a reason after the user; the approver sees it. {usage}")
    return FileRequest(
        provider, action, unescape(unwrap_mailto(rest[0])), unescape(" ".join(rest[1:]))
    )


def unwrap_mailto(token: str) -> str:
    """``<mailto:ann@x.com|ann@x.com>`` → ``ann@x.com``: Slack links e-mail addresses in command
    text when escaping is on."""
    match = _MAILTO.match(token)
    return match.group(1) if match else token


def unescape(text: str) -> str:
    """Slack sends ``&``, ``<`` and ``>`` typed in command text as entities; store what was typed.

    Everything shown later is escaped again, so a typed ``<!channel>`` can never ping.
    """
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
