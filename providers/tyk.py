"""Tyk Dashboard: grant or revoke the password-reset permission, or set a temporary password.

Two APIs with two credentials: the Admin API (``admin-auth: <admin_secret>``) allows and revokes
the ResetPassword permission and fetches a user by id; the Dashboard API (``Authorization:
<dashboard_key>``, optional) finds users by e-mail and sets a password. User objects carry each
user's ``access_key``: only id, e-mail, name and the admin flag are ever read from them (and the
credential check compares a key with the configured one, in memory).

Tyk's user search pages its answer (10 users a page unless asked otherwise), matches substrings
and may answer ``"users": null``; its 404 means the search failed, not that nobody matched.
Setting a password answers 403 for a malformed body *or* a missing right, and 500 "Attempted
unauthorised access." when the caller may not change that user (with the Dashboard's OPA rules
on, only admin users may reset other users' passwords). An admin may set a password policy
(digits, symbols, no sequences, no reuse): generated passwords satisfy a strict one, and a
refusal for the policy is answered with one more, different password.
"""

from __future__ import annotations

import itertools
import re
import secrets
import string
from collections.abc import Mapping
from typing import Any

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
    ProviderError,
    Unavailable,
    UnexpectedResponse,
)
from providers.common import HttpProvider, clean_input, is_email
from providers.http import Call, Reply
from providers.settings import TykSettings

ALLOW = ActionSpec("allow", "Allow resetting other users' passwords")
REVOKE = ActionSpec("revoke", "Revoke permission to reset other users' passwords")
_PERMISSION_PATHS = {
    "allow": "allow_reset_passwords",
    "revoke": "disallow_reset_passwords",
}
_USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_SYMBOLS = "!#%+-=?@^_~"
PASSWORD_LENGTH = 20
PER_CLASS = 3  # upper, lower, digits, symbols: above any policy the Tyk docs show (2)
DELIVERED_AS = "temporary password"  # what the DM calls the secret
RESET = ActionSpec("reset", "Full reset (temporary password)", returns=DELIVERED_AS)
SEARCH_PAGE_LIMIT = 50  # pages of a user search read before giving up
_POLICY_WORDS = ("password", "characters", "numeric", "special", "sequen", "reuse")


def temporary_password(length: int = PASSWORD_LENGTH) -> str:
    """A random password that passes Tyk's strictest documented policy.

    At least ``PER_CLASS`` each of upper and lower case letters, digits and symbols, and no two
    neighbours that repeat or run in sequence ("aa", "ab", "ba", "12").
    """
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits, _SYMBOLS)
    alphabet = "".join(classes)
    rng = secrets.SystemRandom()
    while True:
        chars = [secrets.choice(c) for c in classes for _ in range(PER_CLASS)]
        chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
        rng.shuffle(chars)
        if not _has_sequence(chars):
            return "".join(chars)


def _has_sequence(chars: list[str]) -> bool:
    return any(abs(ord(a) - ord(b)) <= 1 for a, b in itertools.pairwise(chars))


def _is_admin(user: Mapping[str, Any]) -> bool:
    permissions = user.get("user_permissions")
    return isinstance(permissions, dict) and permissions.get("IsAdmin") == "admin"


class TykProvider(HttpProvider[TykSettings]):
    kind = "tyk"
    title = "Tyk Dashboard"

    def _base_url(self) -> str:
        return str(self.settings.base_url)

    def _auth(self) -> Mapping[str, Mapping[str, str]]:
        auth = {"admin_secret": {"admin-auth": self.settings.admin_secret.get_secret_value()}}
        if self.settings.dashboard_key is not None:
            auth["dashboard_key"] = {
                "Authorization": self.settings.dashboard_key.get_secret_value()
            }
        return auth

    @property
    def actions(self) -> tuple[ActionSpec, ...]:
        if self.settings.dashboard_key is not None:
            return (RESET, ALLOW, REVOKE)
        return (ALLOW, REVOKE)

    def _classify(self, call: Call, reply: Reply) -> ProviderError | None:
        status = reply.status_code
        message = self.http.redact(reply.field("Message", "message") or "", call.secrets)
        lowered = message.lower()
        if status == 404 and call.path == "/api/users/search":
            return Unavailable(
                f"Tyk Dashboard could not search its users (it said “{message[:80]}”); "
                f"nothing was changed, try again later ({self.where})."
            )
        if status == 404 and call.path.startswith(("/admin/users/", "/api/users/")):
            return NotFound(f"Tyk Dashboard has no user {call.target} ({self.where}).")
        if status == 500 and "unauthorised access" in lowered:
            # The Dashboard refused before acting: the key's user may not change this user.
            return InsufficientPermission(
                f"Tyk Dashboard refused to {call.what} (“{message[:80]}”): the Dashboard user "
                f"behind `dashboard_key` for {self.where} may not change this user. With the "
                "Dashboard's OPA rules on, only admin users may reset other users' passwords: "
                "use an admin user's key. Nothing was changed."
            )
        if call.credential == "dashboard_key" and status == 403 and "malformed" in lowered:
            return BadInput(
                f"Tyk Dashboard rejected the request to {call.what} as malformed "
                f"(“{message[:80]}”); nothing was changed ({self.where})."
            )
        if (
            call.credential == "dashboard_key"
            and status in (400, 403, 422)
            and call.path.endswith("/actions/reset")
            and any(word in lowered for word in _POLICY_WORDS)
            and "permission" not in lowered
            and "denied" not in lowered
        ):
            return BadInput(
                f"Tyk Dashboard refused the temporary password for {call.target}: "
                f"“{message[:120]}” (the Dashboard's password "
                f"policy); nothing was changed ({self.where})."
            )
        if (
            call.credential == "admin_secret"
            and status == 403
            and "failed to update" in (message.lower())
        ):
            # Documented 403 of the permission calls: the change was not saved.
            return Unavailable(
                f"Tyk Dashboard could not save the change to {call.target} (it said "
                f"“{message[:80]}”); nothing was changed, try again later ({self.where})."
            )
        if call.credential == "admin_secret" and status in (401, 403):
            return BadCredentials(
                f"Tyk Dashboard refused the admin secret: check `admin_secret` for {self.where}."
            )
        if call.credential == "dashboard_key" and status == 401:
            return BadCredentials(
                f"Tyk Dashboard refused the dashboard key: check `dashboard_key` for {self.where}."
            )
        if call.credential == "dashboard_key" and status == 403:
            return InsufficientPermission(
                f"Tyk Dashboard accepted the dashboard key but refused to {call.what}: the "
                f"Dashboard user behind `dashboard_key` for {self.where} needs the "
                "ResetPassword permission (and, with the Dashboard's OPA rules on, to be an "
                "admin user)."
            )
        return None

    def resolve(self, user: str) -> Account:
        text = clean_input(user)
        if is_email(text):
            if self.settings.dashboard_key is None:
                raise BadInput(
                    f"Looking up Tyk Dashboard users by e-mail needs `dashboard_key` for "
                    f"{self.where}; type the user's id (from the Dashboard's Users page) "
                    "instead."
                )
            return self._by_email(text)
        if _USER_ID.match(text):
            return self._by_id(text)
        raise BadInput(f"'{text[:80]}' is neither an e-mail address nor a Tyk Dashboard user id.")

    def _by_email(self, email: str) -> Account:
        page, pages = 1, 1
        while page <= min(pages, SEARCH_PAGE_LIMIT):
            call = Call(
                "POST",
                "/api/users/search",
                "read",
                what="look up the user by e-mail",
                target=f"with the e-mail {email}",
                credential="dashboard_key",
                params={"p": str(page)},
                json={"filters": {"query": email}},
            )
            reply = self.http.send(call)
            body = self.http.expect_object(call, reply)
            users = body.get("users")
            if users is None:  # documented as nullable: nobody matched
                users = []
            if not isinstance(users, list):
                self.http.expect_list(call, reply, key="users")
            for entry in users:
                if not isinstance(entry, dict):
                    continue
                found = entry.get("email_address")
                # The search matches substrings: only the exact address counts.
                if isinstance(found, str) and found.strip().lower() == email.lower():
                    return self._account(call, entry)
            reported = body.get("pages")
            pages = reported if isinstance(reported, int) and not isinstance(reported, bool) else 1
            page += 1
        if pages > SEARCH_PAGE_LIMIT:
            raise Unavailable(
                f"Tyk Dashboard's search for {email} matched more than {SEARCH_PAGE_LIMIT} pages "
                f"of users; type the user's id instead ({self.where})."
            )
        raise NotFound(f"Tyk Dashboard has no user with the e-mail {email} ({self.where}).")

    def _by_id(self, user_id: str) -> Account:
        call = Call(
            "GET",
            f"/admin/users/{user_id}",
            "read",
            what="look up the user",
            target=f"with id {user_id}",
            credential="admin_secret",
        )
        body = self.http.expect_object(call, self.http.send(call))
        # Some Tyk answers wrap the object as {"Status", "Message", "Meta"}.
        user = body["Meta"] if isinstance(body.get("Meta"), dict) and "Status" in body else body
        if str(user.get("id") or "").strip() != user_id:
            raise UnexpectedResponse(
                f"Tyk Dashboard answered the look-up of user {user_id} with another user or "
                f"none ({self.where})."
            )
        return self._account(call, user)

    def _account(self, call: Call, user: Mapping[str, Any]) -> Account:
        user_id = str(user.get("id") or "").strip()
        if not _USER_ID.match(user_id):
            raise self.http.unexpected(call, None, "answered without a valid user id")
        email = user.get("email_address")
        names = [user.get(k) for k in ("first_name", "last_name")]
        display = " ".join(n.strip() for n in names if isinstance(n, str) and n.strip())
        admin = _is_admin(user)
        return Account(
            id=user_id,
            email=email.strip() if isinstance(email, str) and email.strip() else None,
            display_name=display or None,
            privileged=admin,
            privileged_why="Tyk Dashboard admin user (IsAdmin)" if admin else None,
        )

    def describe(self, action: str, account: Account) -> str:
        self.spec(action)
        name = account.display_name or account.email or f"user {account.id}"
        if action == "reset":
            return (
                f"Reset {name}'s Tyk Dashboard password to a temporary password "
                "(sent privately, by direct message)"
            )
        if action == "allow":
            return f"Allow {account.label} to reset other users' passwords"
        return f"Revoke {name}'s permission to reset other users' passwords"

    def perform(self, action: str, account: Account) -> ActionResult:
        self._check_action(action)
        user_id = account.id.strip()
        if not _USER_ID.match(user_id):
            raise BadInput(f"'{user_id[:80]}' is not a Tyk Dashboard user id; nothing was done.")
        if action == "reset":
            return self._reset(user_id, account)
        call = Call(
            "PUT",
            f"/admin/users/{user_id}/actions/{_PERMISSION_PATHS[action]}",
            "action",
            what=(
                f"{'allow' if action == 'allow' else 'revoke'} password resets for {account.label}"
            ),
            target=f"with id {user_id}",
            credential="admin_secret",
        )
        self._expect_ok(call, self.http.send(call))
        if action == "allow":
            summary = f"Tyk Dashboard now lets {account.label} reset other users' passwords."
        else:
            summary = f"Tyk Dashboard no longer lets {account.label} reset other users' passwords."
        return ActionResult(summary=summary, details={"user_id": user_id, "permission": action})

    def _reset(self, user_id: str, account: Account) -> ActionResult:
        if self.settings.dashboard_key is None:
            raise BadInput(
                f"A full Tyk Dashboard reset needs `dashboard_key` for {self.where}; nothing "
                "was done."
            )
        for attempt in (1, 2):
            password = temporary_password()
            call = Call(
                "POST",
                f"/api/users/{user_id}/actions/reset",
                "action",
                what=f"set a temporary password for {account.label}",
                target=f"with id {user_id}",
                credential="dashboard_key",
                json={"new_password": password},
                secrets=(password,),
            )
            try:
                reply = self.http.send(call)
            except BadInput as exc:
                # A refusal for the password policy (or a reused password) changed nothing:
                # one more, different password is safe to try.
                if attempt == 2 or "password policy" not in str(exc):
                    raise
                continue
            self._expect_ok(call, reply)
            break
        return ActionResult(
            summary=(
                f"Tyk Dashboard set a temporary password for {account.label}; they should "
                "change it after signing in."
            ),
            secret=SecretStr(password),
            secret_label=DELIVERED_AS,
            details={"user_id": user_id},
        )

    def _expect_ok(self, call: Call, reply: Reply) -> None:
        body = self.http.expect_object(call, reply)
        if str(body.get("Status", "")).strip().upper() != "OK":
            raise self.http.unexpected(
                call, reply, f"answered HTTP {reply.status_code} without “Status: OK”"
            )

    def check_credentials(self) -> CredentialCheck:
        admin = Call(
            "GET",
            "/admin/organisations",
            "read",
            what="confirm the admin secret",
            credential="admin_secret",
        )
        try:
            self.http.expect_object(admin, self.http.send(admin))
        except BadCredentials as exc:
            return CredentialCheck(
                ok=False,
                detail=f"reachable; bad credentials: {exc}",
                shortfalls=(
                    "Tyk Dashboard refused `admin_secret`: set it to `admin_secret` from the "
                    "Dashboard's tyk_analytics.conf.",
                ),
            )
        except NotFound:
            # Documented 404 "Could not retrieve Organisations": Tyk checks admin-auth first,
            # so the secret was accepted even though the listing failed.
            pass
        if self.settings.dashboard_key is None:
            return CredentialCheck(
                ok=True,
                detail="ok: reachable; admin secret accepted (allow/revoke); no `dashboard_key`, "
                "so no e-mail look-up or full reset",
            )
        return self._check_dashboard_key()

    def _check_dashboard_key(self) -> CredentialCheck:
        dashboard = Call(
            "GET",
            "/api/users",
            "read",
            what="confirm the dashboard key",
            credential="dashboard_key",
            params={"p": "-1"},
        )
        try:
            body = self.http.expect_object(dashboard, self.http.send(dashboard))
        except (BadCredentials, InsufficientPermission) as exc:
            return CredentialCheck(
                ok=False,
                detail=f"reachable; admin secret ok; `dashboard_key`: {exc.kind.replace('_', ' ')}",
                shortfalls=(
                    f"Tyk Dashboard refused `dashboard_key` ({exc.kind.replace('_', ' ')}): set "
                    "it to the API key of an admin Dashboard user (Users → the user → API key).",
                ),
            )
        # The listing carries every user's key: find the key's own user, compare in memory,
        # and keep nothing of it.
        key = self.settings.dashboard_key.get_secret_value() if self.settings.dashboard_key else ""
        listed = body.get("users")
        users: list[Any] = listed if isinstance(listed, list) else []
        owner = next(
            (
                u
                for u in users
                if isinstance(u, dict) and secrets.compare_digest(str(u.get("access_key", "")), key)
            ),
            None,
        )
        if owner is None:
            return CredentialCheck(
                ok=True,
                detail="ok: reachable; admin secret and dashboard key accepted; the key's user "
                "was not in the user list, so its rights are confirmed by the first full reset",
            )
        label = str(owner.get("email_address") or owner.get("id") or "its user")
        if _is_admin(owner):
            return CredentialCheck(
                ok=True,
                detail=f"ok: reachable; admin secret accepted; dashboard key of admin user {label}",
            )
        return CredentialCheck(
            ok=False,
            detail=f"reachable; admin secret accepted; the dashboard key's user {label} is not an "
            "admin",
            shortfalls=(
                f"`dashboard_key` belongs to {label}, who is not a Dashboard admin: with the OPA "
                "rules on only admins may reset other users' passwords — use an admin user's "
                "API key.",
            ),
        )
