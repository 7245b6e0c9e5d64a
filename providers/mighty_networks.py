"""Mighty Networks Admin API: send a member a password-reset e-mail.

A member typed by id is looked up (``GET …/members/{id}/``) like one typed by e-mail, so the
approver sees who it is and a wrong id fails at the look-up. ``/me`` says whether the token's
user is an ``admin`` of the network; the credential check requires it. The member object the
API documents carries no role, so a member is marked privileged only when an answer does say
``role: host`` (the role the API takes when members are created or changed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
    UnexpectedResponse,
)
from providers.common import HttpProvider, clean_input, is_email
from providers.http import Call, Reply
from providers.settings import MightyNetworksSettings

UINT64_MAX = 2**64 - 1
_RESET = ActionSpec("reset", "Send a password-reset e-mail")


def parse_member_id(text: str) -> int | None:
    """The member id if ``text`` is a uint64 written in decimal digits, else None."""
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value <= UINT64_MAX else None


class MightyNetworksProvider(HttpProvider[MightyNetworksSettings]):
    kind = "mighty_networks"
    title = "Mighty Networks"

    def _base_url(self) -> str:
        return str(self.settings.base_url)

    def _auth(self) -> Mapping[str, Mapping[str, str]]:
        return {"token": {"Authorization": f"Bearer {self.settings.token.get_secret_value()}"}}

    @property
    def _network(self) -> str:
        return f"/admin/v1/networks/{self.settings.network_id}"

    @property
    def actions(self) -> tuple[ActionSpec, ...]:
        return (_RESET,)

    def _classify(self, call: Call, reply: Reply) -> ProviderError | None:
        error = (reply.field("error") or "").lower()
        if reply.status_code == 401:
            if "expired" in error:
                return BadCredentials(
                    f"Mighty Networks says the token has expired: replace `token` for {self.where}."
                )
            return BadCredentials(
                f"Mighty Networks refused the token: check `token` for {self.where}."
            )
        if reply.status_code == 403:
            return InsufficientPermission(
                f"Mighty Networks refused to {call.what} (forbidden): a token works only for "
                f"its own network and needs admin rights — check `token` and `network_id` "
                f"('{self.settings.network_id}') for {self.where}."
            )
        if reply.status_code == 404 and call.path.endswith("/me"):
            return NotFound(
                f"Mighty Networks has no network '{self.settings.network_id}': check "
                f"`network_id` for {self.where}."
            )
        if reply.status_code == 404:
            return NotFound(f"Mighty Networks says {call.target} was not found ({self.where}).")
        return None

    def resolve(self, user: str) -> Account:
        text = clean_input(user)
        member_id = parse_member_id(text)
        if member_id is not None:
            by_id = Call(
                "GET",
                f"{self._network}/members/{member_id}/",
                "read",
                what="look up the member",
                target=f"member {member_id}",
            )
            member = self.http.expect_object(by_id, self.http.send(by_id))
            if str(member.get("id")) != str(member_id):
                raise UnexpectedResponse(
                    f"Mighty Networks answered the look-up of member {member_id} with another "
                    f"member ({self.where}); nothing was done."
                )
            email = member.get("email")
            return self._account(by_id, member, email if isinstance(email, str) else "")
        if not is_email(text):
            raise BadInput(
                "Type the member's e-mail address or their Mighty Networks member id "
                f"(a positive whole number), not '{text[:80]}'."
            )
        call = Call(
            "GET",
            f"{self._network}/members/by_email",
            "read",
            what="look up the member by e-mail",
            target=f"the member with e-mail {text}",
            params={"email": text},
        )
        member = self.http.expect_object(call, self.http.send(call))
        return self._account(call, member, text)

    def _account(self, call: Call, member: dict[str, Any], email: str) -> Account:
        raw_id = member.get("id")
        member_id = parse_member_id(str(raw_id)) if isinstance(raw_id, int | str) else None
        if member_id is None:
            raise UnexpectedResponse(
                f"Mighty Networks answered the look-up of {email} without a valid member id "
                f"({self.where})."
            )
        found = member.get("email")
        if email and isinstance(found, str) and found.strip().lower() != email.lower():
            # Never reset someone other than the person typed.
            raise UnexpectedResponse(
                f"Mighty Networks answered the look-up of {email} with a different member "
                f"({self.where}); nothing was done."
            )
        names = [member.get(k) for k in ("first_name", "last_name")]
        display = " ".join(n.strip() for n in names if isinstance(n, str) and n.strip())
        host = str(member.get("role") or "").strip().lower() == "host"
        return Account(
            id=str(member_id),
            email=found.strip() if isinstance(found, str) and found.strip() else (email or None),
            display_name=display or None,
            privileged=host,
            privileged_why="Mighty Networks host of the network" if host else None,
        )

    def describe(self, action: str, account: Account) -> str:
        self.spec(action)
        who = account.label if account.email or account.display_name else f"member {account.id}"
        return f"Send {who} a Mighty Networks password-reset e-mail"

    def perform(self, action: str, account: Account) -> ActionResult:
        self._check_action(action)
        member_id = parse_member_id(account.id)
        if member_id is None:
            raise BadInput(
                f"'{account.id[:80]}' is not a Mighty Networks member id (a positive whole "
                "number); nothing was done."
            )
        who = account.label if account.email or account.display_name else f"member {member_id}"
        call = Call(
            "POST",
            f"{self._network}/members/{member_id}/password_resets",
            "action",
            what=f"send {who} a password-reset e-mail",
            target=f"member {member_id}",
        )
        reply = self.http.send(call)
        # Documented: 204 without a body. Any body (a proxy's page, a changed API) leaves it
        # unclear whether the e-mail went out.
        if reply.response.content.strip():
            raise self.http.unexpected(
                call, reply, f"answered HTTP {reply.status_code} with an unexpected body"
            )
        return ActionResult(
            summary=f"Mighty Networks sent a password-reset e-mail to {who}.",
            details={"member_id": str(member_id), "http_status": reply.status_code},
        )

    def check_credentials(self) -> CredentialCheck:
        call = Call("GET", f"{self._network}/me", "read", what="confirm the token")
        try:
            me = self.http.expect_object(call, self.http.send(call))
        except (BadCredentials, InsufficientPermission, NotFound) as exc:
            fix = (
                "check `network_id` (the network's subdomain or number)"
                if isinstance(exc, NotFound)
                else "create an API key as an admin of the network (Admin → API) and set it as "
                "`token`, with that network's `network_id`"
            )
            return CredentialCheck(
                ok=False,
                detail=f"reachable; {exc.kind.replace('_', ' ')}: {exc}",
                shortfalls=(f"Mighty Networks refused the token: {fix}.",),
            )
        network = me.get("network")
        label = self.settings.network_id
        if isinstance(network, dict):
            name = network.get("title") or network.get("name") or network.get("subdomain")
            if isinstance(name, str) and name.strip():
                label = name.strip()
        user = me.get("user")
        if not isinstance(user, dict):
            return CredentialCheck(
                ok=False, detail="unexpected answer: Mighty Networks did not say who the token is"
            )
        who = user.get("email") or user.get("name") or "its user"
        if user.get("admin") is not True:
            return CredentialCheck(
                ok=False,
                detail=f"reachable; token accepted for network '{label}', but {who} is not an "
                "admin of the network",
                shortfalls=(
                    f"The token's user {who} is not a Mighty Networks admin: create the API key "
                    "as an admin of the network and set it as `token`.",
                ),
            )
        return CredentialCheck(
            ok=True,
            detail=f"ok: reachable; token of admin {who} accepted for network '{label}'",
        )
