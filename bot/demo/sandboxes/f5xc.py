"""F5 Distributed Cloud console API sandbox: user_roles, whoami and admin_reset."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from typing import Any

from bot.demo.sandboxes.routes import Request, Response, Route
from bot.demo.sandboxes.server import Sandbox

_SYSTEM = "/api/web/custom/namespaces/system"


class F5XCSandbox(Sandbox):
    kind = "f5xc"
    tenant = "acme"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = secrets.token_urlsafe(24)  # a tenant admin's API token
        self.readonly_token = secrets.token_urlsafe(24)  # its creator may not reset passwords
        self.users: dict[str, dict[str, Any]] = {}
        self.resets: list[str] = []  # e-mails whose password was reset, in order
        super().__init__(host=host, port=port)

    def settings_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "base_url": self.url, "token": self.token}

    def add_user(self, *, email: str, name: str, **options: Any) -> str:
        """Add a console user (``sso=True``: SSO, ``service=True``: a service credential,
        ``disabled=True``); returns the e-mail, which is the id F5 resets by."""
        first, _, last = name.partition(" ")
        with self._lock:
            self.users[email.lower()] = {
                "email": email.lower(),
                "name": email.lower(),
                "first_name": first,
                "last_name": last,
                "idm_type": "SSO" if options.get("sso") else "VOLTERRA_MANAGED",
                "type": "SERVICE" if options.get("service") else "USER",
                "disabled": bool(options.get("disabled", False)),
                "namespace_roles": [{"namespace": "system", "role": "ves-io-monitor-role"}],
                "tenant": self.tenant,
            }
        return email.lower()

    def secrets(self) -> list[str]:
        return [self.token, self.readonly_token]

    def error_body(self, status: int) -> Any:
        return {"code": 13, "message": f"injected {status}"}

    def routes(self) -> Iterable[Route]:
        return (
            Route("GET", re.compile(f"{_SYSTEM}/user_roles"), "lookup", self._user_roles),
            Route("GET", re.compile(f"{_SYSTEM}/whoami"), "check", self._whoami),
            Route(
                "POST",
                re.compile("/api/web/custom/password/admin_reset"),
                "action",
                self._admin_reset,
            ),
        )

    def _auth(self, request: Request) -> tuple[str | None, Response | None]:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme != "APIToken" or token not in (self.token, self.readonly_token):
            return None, Response(401, {"code": 16, "message": "unauthenticated"})
        return token, None

    def _user_roles(self, request: Request) -> Response:
        _, denied = self._auth(request)
        if denied:
            return denied
        return Response(200, {"items": [dict(u) for u in self.users.values()]})

    def _whoami(self, request: Request) -> Response:
        token, denied = self._auth(request)
        if denied:
            return denied
        who = "admin@acme.example" if token == self.token else "viewer@acme.example"
        return Response(
            200, {"email": who, "name": who, "tenant": self.tenant, "namespace_access": {}}
        )

    def _admin_reset(self, request: Request) -> Response:
        token, denied = self._auth(request)
        if denied:
            return denied
        if token != self.token:
            return Response(403, {"code": 7, "message": "permission denied"})
        body = request.json
        email = body.get("email") if isinstance(body, dict) else None
        if not isinstance(email, str) or not email.strip():
            return Response(400, {"code": 3, "message": "email is required"})
        user = self.users.get(email.strip().lower())
        if user is None:
            return Response(404, {"code": 5, "message": "user not found"})
        if user["idm_type"] == "SSO" or user["type"] == "SERVICE":
            return Response(409, {"code": 9, "message": "user is not managed by the console"})
        self.resets.append(user["email"])
        return Response(200, {})
