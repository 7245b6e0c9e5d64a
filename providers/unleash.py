"""Unleash Admin API: issue a password-reset link, which is a secret, and optionally verify it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from providers.base import (
    Account,
    ActionResult,
    ActionSpec,
    BadCredentials,
    BadInput,
    CredentialCheck,
    InsufficientPermission,
    NotFound,
    NotResettable,
    ProviderError,
    RateLimited,
    UnexpectedResponse,
)
from providers.common import HttpProvider, clean_input
from providers.http import Call, Reply, parse_retry_after
from providers.settings import UnleashSettings

RESET_WINDOW_SECONDS = 60.0  # Unleash allows one reset per user per minute, without Retry-After
# Unleash 8.x also limits the reset endpoint to 20 calls a minute per client (not-found answers
# count too); past it comes a 429 with an HTML body and a Retry-After header. 7.x has no such limit.
ENDPOINT_LIMIT_PER_MINUTE = 20
# The predefined root role "Admin" has id 1 on every Unleash server (custom root roles, an
# Enterprise feature, get higher ids).
ADMIN_ROOT_ROLE = 1
DELIVERED_AS = "reset link"  # what the DM calls the secret
_RESET = ActionSpec("reset", "Issue a password-reset link", returns=DELIVERED_AS)
_RESET_PATH = "/api/admin/user-admin/reset-password"


class UnleashProvider(HttpProvider[UnleashSettings]):
    kind = "unleash"
    title = "Unleash"

    def _base_url(self) -> str:
        return str(self.settings.base_url)

    def _auth(self) -> Mapping[str, Mapping[str, str]]:
        return {"token": {"Authorization": self.settings.token.get_secret_value()}}

    @property
    def actions(self) -> tuple[ActionSpec, ...]:
        return (_RESET,)

    def _classify(self, call: Call, reply: Reply) -> ProviderError | None:
        status, name = reply.status_code, reply.field("name") or ""
        message = (reply.field("message") or "").lower()
        if status == 401:
            return BadCredentials(f"Unleash refused the token: check `token` for {self.where}.")
        if status == 403 and "scim" in message:
            # Enterprise with SCIM: the user is managed by the identity provider; the token is fine.
            return NotResettable(
                f"Unleash says {call.target} is managed by the SCIM identity provider, so its "
                f"password cannot be reset in Unleash; reset it at the identity provider "
                f"({self.where})."
            )
        if status == 403 and "token type" in message:
            return InsufficientPermission(
                "Unleash says `token` is the wrong kind of token (a client or frontend token?): "
                "use an Admin's personal access token, a service-account token or an admin API "
                f"token for {self.where}."
            )
        if status == 403:
            return InsufficientPermission(
                f"Unleash accepted the token but it lacks the ADMIN permission needed to "
                f"{call.what}: give `token` for {self.where} admin rights."
            )
        if status == 404 and call.path == _RESET_PATH:
            return NotFound(f"Unleash has no user with the e-mail {call.target} ({self.where}).")
        if status == 429 and call.path == _RESET_PATH and name == "RateLimitError":
            return RateLimited(
                f"Unleash allows one password reset per user per minute; nothing was done, try "
                f"{call.target} again in a minute ({self.where}).",
                retry_after=RESET_WINDOW_SECONDS,
            )
        if status == 429:
            retry_after = parse_retry_after(reply.response.headers.get("Retry-After"))
            wait = f"in {math.ceil(retry_after)} seconds" if retry_after is not None else "later"
            return RateLimited(
                f"Unleash is limiting how often the bot may call it (the password-reset "
                f"endpoint takes {ENDPOINT_LIMIT_PER_MINUTE} calls a minute); nothing was done, "
                f"try again {wait} ({self.where}).",
                retry_after=retry_after,
            )
        if status == 415:
            return UnexpectedResponse(
                f"Unleash did not accept the request's content type ({self.where}); nothing was "
                "done."
            )
        if status == 400 and name:
            return BadInput(
                f"Unleash rejected the request to {call.what} as invalid "
                f"({name}){self.http.detail(reply, call)} ({self.where})."
            )
        return None

    def resolve(self, user: str) -> Account:
        email = self._email(clean_input(user))
        call = Call(
            "GET",
            "/api/admin/user-admin/search",
            "read",
            what="look up the user",
            target=email,
            params={"q": email},
        )
        users = self.http.expect_list(call, self.http.send(call))
        for entry in users:
            if not isinstance(entry, dict):
                continue
            found = entry.get("email")
            if isinstance(found, str) and found.strip().lower() == email.lower():
                name = entry.get("name") or entry.get("username")
                privileged = self._is_admin(entry.get("id"), email)
                return Account(
                    id=found.strip(),
                    email=found.strip(),
                    display_name=name.strip() if isinstance(name, str) and name.strip() else None,
                    privileged=privileged,
                    privileged_why="Unleash root role Admin" if privileged else None,
                )
        raise NotFound(f"Unleash has no user with the e-mail {email} ({self.where}).")

    def _is_admin(self, user_id: object, email: str) -> bool:
        """Whether the user's root role is Admin (the search answer does not carry the role)."""
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise UnexpectedResponse(
                f"Unleash answered the look-up of {email} without a numeric user id ({self.where})."
            )
        call = Call(
            "GET",
            f"/api/admin/user-admin/{user_id}",
            "read",
            what="read the user's root role",
            target=email,
        )
        user = self.http.expect_object(call, self.http.send(call))
        return user.get("rootRole") == ADMIN_ROOT_ROLE

    def _email(self, text: str) -> str:
        # The reset takes the e-mail as its id: a numeric id answers 404 and "" answers 500.
        return self._require_email(
            text, why="Unleash resets passwords by e-mail address, so type the user's e-mail."
        )

    def describe(self, action: str, account: Account) -> str:
        self.spec(action)
        return (
            f"Issue {account.label} an Unleash password-reset link "
            "(sent privately, by direct message)"
        )

    def perform(self, action: str, account: Account) -> ActionResult:
        self._check_action(action)
        email = self._email((account.email or account.id).strip())
        call = Call(
            "POST",
            _RESET_PATH,
            "action",
            what=f"issue a password-reset link for {email}",
            target=email,
            json={"id": email},
        )
        reply = self.http.send(call)
        body = self.http.expect_object(call, reply)
        link = body.get("resetPasswordUrl")
        token = _reset_token(link)
        if not isinstance(link, str) or token is None:
            raise self.http.unexpected(
                call, reply, f"answered HTTP {reply.status_code} without a usable reset link"
            )
        details: dict[str, Any] = {"link_verified": False}
        summary = f"Unleash issued a password-reset link for {account.label}"
        if not self.settings.verify_link:
            details["link_check"] = "disabled"
            return self._issued(f"{summary}.", link, details)
        # From here the reset has happened: a failed check must not turn it into an error,
        # except when the link opens someone else's account.
        verified, note = self._verify(token, email)
        details["link_verified"] = verified
        details["link_check"] = "verified" if verified else note
        if verified:
            return self._issued(
                f"{summary}; Unleash confirmed the link is for {email}.", link, details
            )
        return self._issued(f"{summary}, but {note}.", link, details)

    @staticmethod
    def _issued(summary: str, link: str, details: dict[str, Any]) -> ActionResult:
        return ActionResult(
            summary=summary,
            secret=SecretStr(link),
            secret_label=DELIVERED_AS,
            details={**details, "link_valid_hours": 24},
        )

    def _verify(self, token: str, email: str) -> tuple[bool, str]:
        """Ask Unleash who the link is for. (True, "") or (False, why it is unconfirmed)."""
        call = Call(
            "GET",
            "/auth/reset/validate",
            "read",
            what="check the reset link",
            target="the reset link",
            credential=None,
            params={"token": token},
            secrets=(token,),
        )
        try:
            reply = self.http.send(call)
            body = self.http.expect_object(call, reply)
        except BadCredentials:  # 401 InvalidTokenError: the link it just issued is not valid
            return False, "Unleash did not accept the link when checked (it may not work)"
        except ProviderError as exc:
            return False, f"the link could not be checked ({exc.kind.replace('_', ' ')})"
        found = body.get("email")
        if not isinstance(found, str):
            return False, "Unleash's check of the link did not name a user"
        if found.strip().lower() != email.lower():
            # The link would let the requester set another person's password: withhold it.
            raise UnexpectedResponse(
                f"Unleash issued a reset link for {email}, but checking it named a different "
                f"user. The link was withheld; a new reset for {email} invalidates it "
                f"({self.where}).",
                status_code=reply.status_code,
                response=reply.response,
            )
        return True, ""

    def check_credentials(self) -> CredentialCheck:
        # Any token may search users; only ADMIN may count admins, so this proves the right.
        call = Call("GET", "/api/admin/user-admin/admin-count", "read", what="confirm admin rights")
        try:
            self.http.expect_object(call, self.http.send(call))
        except BadCredentials as exc:
            return CredentialCheck(
                ok=False,
                detail=f"reachable; bad credentials: {exc}",
                shortfalls=(
                    "Unleash refused `token`: create an Admin user's personal access token "
                    "(Profile → Personal API tokens) and set it as `token`.",
                ),
            )
        except InsufficientPermission as exc:
            return CredentialCheck(
                ok=False,
                detail=f"reachable; token accepted; insufficient permission: {exc}",
                shortfalls=(
                    "The token lacks Unleash admin rights: use the personal access token of a "
                    "user whose root role is Admin as `token`.",
                ),
            )
        return CredentialCheck(
            ok=True, detail="ok: reachable; token accepted; it has Unleash admin rights"
        )


def _reset_token(link: object) -> str | None:
    """The ``token`` query value of a reset link, if it is an http(s) URL carrying one."""
    if not isinstance(link, str):
        return None
    parts = urlsplit(link.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if key == "token" and value:
            # Not unquote_plus: a literal "+" belongs to the token.
            return unquote(value)
    return None
