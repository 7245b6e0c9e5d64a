"""F5 Distributed Cloud tenant console: reset a console user's password by e-mail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.base import (
    Account,
    ActionResult,
    ActionSpec,
    BadCredentials,
    CredentialCheck,
    InsufficientPermission,
    NotFound,
    NotResettable,
    ProviderError,
)
from providers.common import HttpProvider, clean_input
from providers.http import Call, Reply
from providers.settings import F5XCSettings

_RESET = ActionSpec("reset", "Reset the console password")
_USERS_PATH = "/api/web/custom/namespaces/system/user_roles"
_RESET_PATH = "/api/web/custom/password/admin_reset"

SSO_REASON = (
    "they sign in through the tenant's single sign-on identity provider, so a console password "
    "reset cannot help; reset it at the identity provider"
)
SERVICE_REASON = "it is a service credential, not a person, and has no console password"
DISABLED_REASON = "the user is disabled in the tenant; an administrator must re-enable them first"
DEBUG_REASON = "it is an account F5 made for its own support staff (type DEBUG), not a person here"
# The predefined role that administers a namespace (``namespace_roles`` of a ``user_roles`` entry;
# in namespace "system" it administers the tenant).
ADMIN_ROLES = frozenset({"ves-io-admin-role"})


def not_resettable_reason(entry: Mapping[str, Any]) -> str | None:
    """Why a password reset cannot help this ``user_roles`` entry, or None."""
    kind = str(entry.get("type") or "").strip().upper()
    if kind == "SERVICE":
        return SERVICE_REASON
    if kind == "DEBUG":
        return DEBUG_REASON
    if "SSO" in str(entry.get("idm_type") or "").upper():
        return SSO_REASON
    if entry.get("disabled") is True:
        return DISABLED_REASON
    return None


def admin_evidence(entry: Mapping[str, Any]) -> str | None:
    """Why this ``user_roles`` entry administers the tenant, or None."""
    if entry.get("domain_owner") is True:
        return "F5 Distributed Cloud tenant owner"
    roles = entry.get("namespace_roles")
    for item in roles if isinstance(roles, list) else []:
        if isinstance(item, dict) and str(item.get("role") or "") in ADMIN_ROLES:
            return f"F5 Distributed Cloud role {item['role']} in namespace {item.get('namespace')}"
    return None


class F5XCProvider(HttpProvider[F5XCSettings]):
    kind = "f5xc"
    title = "F5 Distributed Cloud"

    def _base_url(self) -> str:
        return str(self.settings.base_url)

    def _auth(self) -> Mapping[str, Mapping[str, str]]:
        return {"token": {"Authorization": f"APIToken {self.settings.token.get_secret_value()}"}}

    @property
    def actions(self) -> tuple[ActionSpec, ...]:
        return (_RESET,)

    def _classify(self, call: Call, reply: Reply) -> ProviderError | None:
        if reply.status_code == 403:
            return InsufficientPermission(
                f"F5 Distributed Cloud accepted the API token but refused to {call.what}: the "
                f"token carries its creator's rights, and resetting passwords needs a tenant "
                f"admin — check `token` for {self.where}."
            )
        return None

    def resolve(self, user: str) -> Account:
        email = self._require_email(
            clean_input(user),
            why="F5 Distributed Cloud identifies console users by e-mail address.",
        )
        return self._lookup(email)

    def _lookup(self, email: str) -> Account:
        call = Call("GET", _USERS_PATH, "read", what="list the tenant's users", target=email)
        entries = self.http.expect_list(call, self.http.send(call), key="items")
        matches = [
            e
            for e in entries
            if isinstance(e, dict) and str(e.get("email") or "").strip().lower() == email.lower()
        ]
        if not matches:
            raise NotFound(
                f"F5 Distributed Cloud has no console user with the e-mail {email} ({self.where})."
            )
        # A person's entry wins over a service credential that shares the address.
        matches.sort(key=lambda e: not_resettable_reason(e) is not None)
        entry = matches[0]
        why = admin_evidence(entry)
        return Account(
            id=str(entry["email"]).strip(),
            email=str(entry["email"]).strip(),
            display_name=_display_name(entry),
            not_resettable_reason=not_resettable_reason(entry),
            privileged=why is not None,
            privileged_why=why,
        )

    def describe(self, action: str, account: Account) -> str:
        self.spec(action)
        return f"Reset the F5 Distributed Cloud console password of {account.label}"

    def perform(self, action: str, account: Account) -> ActionResult:
        self._check_action(action)
        email = self._require_email(
            (account.email or account.id).strip(),
            why="F5 Distributed Cloud resets passwords by e-mail address.",
        )
        # The stored account does not carry the reason, and a user may have moved to SSO while
        # the request waited: look again (a read; it cannot reset anything).
        current = account if account.not_resettable_reason else self._lookup(email)
        if current.not_resettable_reason:
            raise NotResettable(
                f"{current.label} can't be reset in F5 Distributed Cloud: "
                f"{current.not_resettable_reason} ({self.where})."
            )
        call = Call(
            "POST",
            _RESET_PATH,
            "action",
            what=f"reset the console password of {email}",
            target=email,
            json={"email": email},
        )
        reply = self.http.send(call)
        # Documented answer: the protobuf Empty message, {}. Anything else is not understood.
        if self.http.expect_object(call, reply):
            raise self.http.unexpected(
                call, reply, f"answered HTTP {reply.status_code} with an unexpected body"
            )
        return ActionResult(
            summary=(
                f"F5 Distributed Cloud accepted the password reset for {current.label}; F5 "
                "normally e-mails the user how to set a new password (the API does not "
                "confirm it)."
            ),
            details={"email": email},
        )

    def check_credentials(self) -> CredentialCheck:
        call = Call(
            "GET", "/api/web/custom/namespaces/system/whoami", "read", what="confirm the API token"
        )
        try:
            me = self.http.expect_object(call, self.http.send(call))
        except (BadCredentials, InsufficientPermission) as exc:
            return CredentialCheck(
                ok=False,
                detail=f"reachable; {exc.kind.replace('_', ' ')}: {exc}",
                shortfalls=(
                    "F5 Distributed Cloud refused `token`: create an API token as a tenant "
                    "admin (Administration → Credentials) and set it as `token`.",
                ),
            )
        who = me.get("email") or me.get("name")
        as_whom = f" (as {who})" if isinstance(who, str) and who.strip() else ""
        why = admin_evidence(me)
        if why is None and isinstance(me.get("namespace_roles"), list):
            return CredentialCheck(
                ok=False,
                detail=f"reachable; API token accepted{as_whom}, but its creator is not a "
                "tenant admin",
                shortfalls=(
                    f"The API token's creator{as_whom} holds no admin role in the tenant: create "
                    "the token as a tenant admin (role ves-io-admin-role in namespace system).",
                ),
            )
        rights = f"; {why}" if why else "; admin rights are confirmed by a reset"
        return CredentialCheck(
            ok=True, detail=f"ok: reachable; API token accepted{as_whom}{rights}"
        )


def _display_name(entry: Mapping[str, Any]) -> str | None:
    parts = [entry.get(k) for k in ("first_name", "last_name")]
    full = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    if full:
        return full
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip() or "@" in name:
        return None  # F5 often names a user object by its e-mail
    return name.strip()
