"""Mighty Networks Admin API sandbox: me, a member by e-mail or id, and password_resets.

Answers follow the vendor's spec (``MeResponse``, ``MemberResponse``, ``ErrorResponse``).
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Iterable
from typing import Any

from bot.demo.sandboxes.routes import Request, Response, Route
from bot.demo.sandboxes.server import Sandbox

_NET = r"/admin/v1/networks/(?P<network>[^/]+)"


class MightyNetworksSandbox(Sandbox):
    kind = "mighty_networks"
    network_subdomain = "acme"
    network_number = "4711"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = f"mn_{secrets.token_hex(16)}"
        self.token_expired = False  # True: every call answers 401 token_expired
        self.token_admin = True  # whether /me says the token's user administers the network
        self.members: dict[int, dict[str, Any]] = {}
        self.emails_sent: list[str] = []  # addresses a reset e-mail went to, in order
        self._ids = itertools.count(100_000_000_001)
        super().__init__(host=host, port=port)

    def settings_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "base_url": self.url,
            "network_id": self.network_subdomain,
            "token": self.token,
        }

    def add_user(self, *, email: str, name: str, **options: Any) -> str:
        """Add a member (``admin=True``: a host of the network, answered as ``role: host``,
        the role the API takes when members are created); returns the member id."""
        first, _, last = name.partition(" ")
        with self._lock:
            member_id = next(self._ids)
            member: dict[str, Any] = {
                "id": member_id,
                "created_at": "2024-01-01T00:00:00+00:00",
                "updated_at": "2024-01-01T00:00:00+00:00",
                "email": email,
                "member_type": options.get("member_type", "full"),
                "first_name": first,
                "last_name": last,
                "permalink": f"https://{self.network_subdomain}.mn.co/members/{member_id}",
            }
            if options.get("admin"):
                member["role"] = "host"
            self.members[member_id] = member
        return str(member_id)

    def secrets(self) -> list[str]:
        return [self.token]

    def error_body(self, status: int) -> Any:
        words = {
            401: "unauthorized",
            403: "forbidden",
            404: "Member not found",
            429: "rate_limited",
        }
        return {"error": words.get(status, "internal_error")}

    def routes(self) -> Iterable[Route]:
        return (
            Route("GET", re.compile(f"{_NET}/me"), "check", self._me),
            Route("GET", re.compile(f"{_NET}/members/by_email"), "lookup", self._by_email),
            Route("GET", re.compile(f"{_NET}/members/(?P<member>[0-9]+)/"), "lookup", self._by_id),
            Route(
                "POST",
                re.compile(f"{_NET}/members/(?P<member>[^/]+)/password_resets"),
                "action",
                self._reset,
            ),
        )

    def _denied(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Response(401, {"error": "unauthorized"})
        if self.token_expired:
            return Response(401, {"error": "token_expired"})
        if request.params["network"] not in (self.network_subdomain, self.network_number):
            return Response(403, {"error": "forbidden"})  # a key works for its own network only
        return None

    def _me(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied:
            return denied
        stamp = "2024-01-01T00:00:00+00:00"
        return Response(
            200,
            {
                "user": {
                    "id": 1,
                    "created_at": stamp,
                    "updated_at": stamp,
                    "name": "Sandbox Owner",
                    "email": "owner@acme.example",
                    "short_bio": "",
                    "admin": self.token_admin,
                },
                "network": {
                    "id": int(self.network_number),
                    "created_at": stamp,
                    "updated_at": stamp,
                    "subdomain": self.network_subdomain,
                    "title": "Acme Community",
                    "subtitle": "Where Acme's people meet",
                    "purpose": "Support",
                    "description": "The sandbox's network",
                },
            },
        )

    def _by_id(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied:
            return denied
        member = self.members.get(int(request.params["member"]))
        if member is None:
            return Response(404, {"error": "Member not found"})
        return Response(200, dict(member))

    def _by_email(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied:
            return denied
        email = request.query.get("email", "").strip().lower()
        for member in self.members.values():
            if member["email"].lower() == email:
                return Response(200, dict(member))
        return Response(404, {"error": "Member not found"})

    def _reset(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied:
            return denied
        raw = request.params["member"]
        member = self.members.get(int(raw)) if raw.isdigit() else None
        if member is None:
            return Response(404, {"error": "Member not found"})
        self.emails_sent.append(member["email"])
        return Response(204)
