"""F5 Distributed Cloud console API sandbox: user_roles, whoami and admin_reset.

Error bodies are JSON strings, as the ``ves.io.schema.user`` description declares them.
"""

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
        ``debug=True``: an account for F5 support, ``disabled=True``, ``admin=True``: tenant
        admin role in namespace system); returns the e-mail, which is the id F5 resets by."""
        first, _, last = name.partition(" ")
        kind = "SERVICE" if options.get("service") else "DEBUG" if options.get("debug") else "USER"
        role = "ves-io-admin-role" if options.get("admin") else "ves-io-monitor-role"
        with self._lock:
            self.users[email.lower()] = {
                "email": email.lower(),
                "name": email.lower(),
                "first_name": first,
                "last_name": last,
                "idm_type": "SSO" if options.get("sso") else "VOLTERRA_MANAGED",
                "type": kind,
                "disabled": bool(options.get("disabled", False)),
                "domain_owner": False,
                "namespace_roles": [{"namespace": "system", "role": role}],
                "tenant": self.tenant,
            }
        return email.lower()

    def secrets(self) -> list[str]:
        return [self.token, self.readonly_token]

    def error_body(self, status: int) -> Any:
        return f"injected {status}"

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
            return None, Response(401, "unauthenticated")
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
        admin = token == self.token
        who = "admin@acme.example" if admin else "viewer@acme.example"
        role = "ves-io-admin-role" if admin else "ves-io-monitor-role"
        return Response(
            200,
            {
                "email": who,
                "name": who,
                "tenant": self.tenant,
                "namespace_roles": [{"namespace": "system", "role": role}],
            },
        )

    def _admin_reset(self, request: Request) -> Response:
        token, denied = self._auth(request)
        if denied:
            return denied
        if token != self.token:
            return Response(403, "permission denied")
        body = request.json
        email = body.get("email") if isinstance(body, dict) else None
        if not isinstance(email, str) or not email.strip():
            return Response(400, "email is required")
        user = self.users.get(email.strip().lower())
        if user is None:
            return Response(404, "user not found")
        self.resets.append(user["email"])
        return Response(200, {})
