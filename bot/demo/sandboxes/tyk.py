"""Tyk Dashboard sandbox: the Admin API (admin-auth) and the Dashboard API users endpoints.

Like the Dashboard: the user search pages (10 a page, ``p`` < 0 for all), matches substrings and
answers ``"users": null`` when nothing matches; a new password needs 6 characters and may have
to pass a password policy (403 otherwise); with ``opa_rules`` on, only admin users may reset
other users' passwords (500 "Attempted unauthorised access.").
"""

from __future__ import annotations

import itertools
import math
import re
import secrets
from collections.abc import Iterable
from typing import Any

from bot.demo.sandboxes.routes import REDACTED, Request, Response, Route
from bot.demo.sandboxes.server import Sandbox

_ADMIN_DENIED = {
    "Status": "Error",
    "Message": "Attempted administrative access with invalid or missing key!",
    "Meta": None,
}
_NO_USER = {"Status": "Error", "Message": "Could not retrieve user detail", "Meta": None}
_USER = "/admin/users/(?P<user>[^/]+)"


_PAGE = 10


class TykSandbox(Sandbox):
    kind = "tyk"
    min_password_length = 6

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.admin_secret = secrets.token_hex(16)
        self.org_id = secrets.token_hex(12)
        self.users: dict[str, dict[str, Any]] = {}
        self._passwords: dict[str, str] = {}
        self._passwords_set: list[str] = []
        # Like the Dashboard's password policy settings; None: no policy.
        self.password_policy: dict[str, Any] | None = None
        self.opa_rules = False  # the Dashboard's OPA rules: only admins reset other users
        super().__init__(host=host, port=port)
        owner = self.add_user(
            email="owner@acme.example", name="Dash Owner", reset_passwords=True, admin=True
        )
        viewer = self.add_user(email="viewer@acme.example", name="Dash Viewer")
        self.dashboard_key = self.users[owner]["access_key"]  # holds ResetPassword
        self.limited_key = self.users[viewer]["access_key"]  # does not

    def settings_dict(self, *, dashboard_key: bool = True) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "kind": self.kind,
            "base_url": self.url,
            "admin_secret": self.admin_secret,
        }
        if dashboard_key:
            settings["dashboard_key"] = self.dashboard_key
        return settings

    def add_user(self, *, email: str, name: str, **options: Any) -> str:
        """Add a Dashboard user (``reset_passwords=True`` grants ResetPassword, ``admin=True``
        makes an admin user: ``user_permissions.IsAdmin = "admin"``); returns its id."""
        first, _, last = name.partition(" ")
        user_id = secrets.token_hex(12)
        permissions = {"ResetPassword": "admin"} if options.get("reset_passwords") else {}
        if options.get("admin"):
            permissions["IsAdmin"] = "admin"
        with self._lock:
            self.users[user_id] = {
                "id": user_id,
                "org_id": self.org_id,
                "first_name": first,
                "last_name": last,
                "email_address": email,
                "active": True,
                "access_key": secrets.token_hex(16),
                "user_permissions": permissions,
                "group_id": "",
                "password_max_days": 0,
                "PWHistory": [],
                "created_at": "2024-01-01T00:00:00Z",
            }
        return user_id

    def can_reset(self, user_id: str) -> bool:
        """Whether the user now holds the ResetPassword permission."""
        with self._lock:
            return "ResetPassword" in self.users[user_id]["user_permissions"]

    def check_password(self, user_id: str, password: str) -> bool:
        with self._lock:
            stored = self._passwords.get(user_id)
        return stored is not None and secrets.compare_digest(stored, password)

    def secrets(self) -> list[str]:
        with self._lock:
            keys = [u["access_key"] for u in self.users.values()]
            return [self.admin_secret, *keys, *self._passwords_set]

    def error_body(self, status: int) -> Any:
        return {"Status": "Error", "Message": f"injected {status}", "Meta": None}

    def redact(self, step: str, query: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        if isinstance(body, dict) and "new_password" in body:
            body = {**body, "new_password": REDACTED}
        return query, body

    def routes(self) -> Iterable[Route]:
        return (
            Route("GET", re.compile(_USER), "lookup", self._get_user),
            Route(
                "PUT",
                re.compile(f"{_USER}/actions/allow_reset_passwords"),
                "action",
                lambda r: self._permission(r, allow=True),
            ),
            Route(
                "PUT",
                re.compile(f"{_USER}/actions/disallow_reset_passwords"),
                "action",
                lambda r: self._permission(r, allow=False),
            ),
            Route("GET", re.compile("/admin/organisations"), "check", self._organisations),
            Route("POST", re.compile("/api/users/search"), "lookup", self._search),
            Route("GET", re.compile("/api/users"), "check", self._list_users),
            Route(
                "POST",
                re.compile("/api/users/(?P<user>[^/]+)/actions/reset"),
                "action",
                self._reset,
            ),
        )

    def _policy_problem(self, password: str) -> str | None:
        if len(password) < self.min_password_length:
            return f"Password must be at least {self.min_password_length} characters long."
        policy = self.password_policy or {}
        digits = sum(c.isdigit() for c in password)
        special = sum(not c.isalnum() for c in password)
        if digits < int(policy.get("minNumeric", 0)):
            return f"Password must contain at least {policy['minNumeric']} numeric characters."
        if special < int(policy.get("minSpecial", 0)):
            return f"Password must contain at least {policy['minSpecial']} special characters."
        if policy.get("disableSequential") and any(
            abs(ord(a) - ord(b)) <= 1 for a, b in itertools.pairwise(password)
        ):
            return "Password must not contain sequential or repeated characters."
        return None

    def _public(self, user: dict[str, Any]) -> dict[str, Any]:
        return dict(user)  # like the real API: access_key included

    # Admin API

    def _admin_denied(self, request: Request) -> Response | None:
        if request.headers.get("admin-auth") != self.admin_secret:
            return Response(403, dict(_ADMIN_DENIED))
        return None

    def _get_user(self, request: Request) -> Response:
        denied = self._admin_denied(request)
        if denied:
            return denied
        user = self.users.get(request.params["user"])
        return Response(200, self._public(user)) if user else Response(404, dict(_NO_USER))

    def _permission(self, request: Request, *, allow: bool) -> Response:
        denied = self._admin_denied(request)
        if denied:
            return denied
        user = self.users.get(request.params["user"])
        if user is None:
            return Response(404, dict(_NO_USER))
        if allow:
            user["user_permissions"]["ResetPassword"] = "admin"
        else:
            user["user_permissions"].pop("ResetPassword", None)
        return Response(
            200, {"Status": "OK", "Message": "User updated", "Meta": self._public(user)}
        )

    def _organisations(self, request: Request) -> Response:
        denied = self._admin_denied(request)
        if denied:
            return denied
        return Response(
            200, {"organisations": [{"id": self.org_id, "owner_name": "Acme"}], "pages": 0}
        )

    # Dashboard API

    def _caller(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        key = request.headers.get("authorization", "")
        caller = next((u for u in self.users.values() if u["access_key"] == key), None)
        if not key or caller is None:
            return None, Response(
                401, {"Status": "Error", "Message": "Not authorised", "Meta": None}
            )
        return caller, None

    def _search(self, request: Request) -> Response:
        _, denied = self._caller(request)
        if denied:
            return denied
        body = request.json
        filters = body.get("filters") if isinstance(body, dict) else None
        query = str(filters.get("query", "") if isinstance(filters, dict) else "").lower()
        found = [
            self._public(u) for u in self.users.values() if query in u["email_address"].lower()
        ]
        try:
            page = int(request.query.get("p", "1"))
        except ValueError:
            page = 1
        pages = max(1, math.ceil(len(found) / _PAGE))
        if page >= 1:
            found = found[(page - 1) * _PAGE : page * _PAGE]
        return Response(200, {"users": found or None, "pages": pages})

    def _list_users(self, request: Request) -> Response:
        _, denied = self._caller(request)
        if denied:
            return denied
        return Response(200, {"users": [self._public(u) for u in self.users.values()], "pages": 1})

    def _reset(self, request: Request) -> Response:
        caller, denied = self._caller(request)
        if denied or caller is None:
            return denied or Response(401, {})
        is_admin = caller["user_permissions"].get("IsAdmin") == "admin"
        if "ResetPassword" not in caller["user_permissions"] and not is_admin:
            return Response(
                403,
                {
                    "Status": "Error",
                    "Message": "access denied: You do not have permission to reset passwords",
                    "Meta": None,
                },
            )
        user = self.users.get(request.params["user"])
        if user is None:
            return Response(404, dict(_NO_USER))
        if self.opa_rules and not is_admin and user["id"] != caller["id"]:
            return Response(
                500, {"Status": "Error", "Message": "Attempted unauthorised access.", "Meta": None}
            )
        body = request.json
        password = body.get("new_password") if isinstance(body, dict) else None
        if not isinstance(password, str):
            return Response(
                403, {"Status": "Error", "Message": "Request body malformed.", "Meta": None}
            )
        problem = self._policy_problem(password)
        if problem:
            return Response(403, {"Status": "Error", "Message": problem, "Meta": None})
        self._passwords[user["id"]] = password
        self._passwords_set.append(password)
        return Response(200, {"Status": "OK", "Message": "User password updated", "Meta": None})
