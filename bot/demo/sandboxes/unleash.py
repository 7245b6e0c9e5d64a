"""Unleash Admin API sandbox: user search and read, admin-count, reset links and their check.

Like a real 8.x server: an Admin user's personal access token (``user:…``) has admin rights and
an Editor's does not; the reset endpoint takes 20 calls a minute per client (not-found answers
count) and answers past it with 429, an HTML body and ``Retry-After``; a SCIM-managed user
(Enterprise) cannot be reset.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import secrets
import string
import time
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from bot.demo.sandboxes.routes import REDACTED, Request, Response, Route
from bot.demo.sandboxes.server import Sandbox

_RESET_PATH = "/api/admin/user-admin/reset-password"
_BCRYPT_ALPHABET = "./" + string.ascii_letters + string.digits
_WRONG_TYPE = {"message": "invalid token: expected a different token type for this endpoint"}
_NEED_ADMIN = (
    "You don't have the required permissions to perform this operation. To perform this "
    'action, you need the "ADMIN" permission.'
)
_RATE_LIMITED = (
    "You can only send one new reset password email per minute, per user. Please try again later."
)
_SCIM = "This user is managed by your SCIM provider and cannot be changed manually"
_TOO_MANY = b"Too many requests, please try again later."
ADMIN, EDITOR, VIEWER = 1, 2, 3  # the predefined root roles' ids
_ROLE_NAMES = {ADMIN: "Admin", EDITOR: "Editor", VIEWER: "Viewer"}


def _error(status: int, name: str, message: str, *, with_id: bool = True) -> Response:
    body: dict[str, Any] = {"name": name, "message": message, "details": [{"message": message}]}
    if with_id:  # Unleash sends an error id with some errors only
        body = {"id": str(uuid.uuid4()), **body}
    return Response(status, body)


class UnleashSandbox(Sandbox):
    kind = "unleash"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.admin_token = f"*:*.{secrets.token_hex(24)}"  # legacy admin API token
        self.admin_pat = f"user:{secrets.token_hex(28)}"  # an Admin user's PAT: recommended
        self.editor_token = f"user:{secrets.token_hex(28)}"  # an Editor's PAT: no ADMIN
        self.client_token = f"default:development.{secrets.token_hex(24)}"  # backend token
        self.rate_limit_seconds = 60.0
        self.endpoint_limit = 20  # reset calls a minute per client (Unleash 8.x)
        self.users: dict[int, dict[str, Any]] = {}
        self._links: dict[str, int] = {}  # reset token -> user id; one live token per user
        self._last_reset: dict[int, float] = {}
        self._window: tuple[float, int] | None = None  # (start, calls) of the endpoint limit
        self._issued: list[str] = []  # every reset link handed out
        self._ids = itertools.count(2)
        super().__init__(host=host, port=port)

    def settings_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "base_url": self.url, "token": self.admin_pat}

    def add_user(self, *, email: str, name: str, **options: Any) -> str:
        """Add a user (``admin=True``: root role Admin; ``root_role=2``: Editor; ``scim=True``:
        managed by a SCIM provider); returns the e-mail, which is the id Unleash resets by."""
        role = ADMIN if options.get("admin") else options.get("root_role", VIEWER)
        digest = hashlib.sha256(email.lower().encode()).hexdigest()
        with self._lock:
            user_id = next(self._ids)
            self.users[user_id] = {
                "accountType": "User",
                "id": user_id,
                "name": name,
                "email": email.lower(),
                "imageUrl": f"https://gravatar.com/avatar/{digest}?s=42&d=retro&r=g",
                "seenAt": None,
                "loginAttempts": 0,
                "createdAt": "2024-01-01T00:00:00.000Z",
                "scimId": secrets.token_hex(8) if options.get("scim") else None,
                "rootRole": role,
            }
        return email.lower()

    def reset_rate_limits(self) -> None:
        with self._lock:
            self._last_reset.clear()
            self._window = None

    def email_for_link(self, link: str) -> str | None:
        """Whose password the reset ``link`` (or bare token) can set, if it is still live."""
        token = link
        if "?" in link:
            query = urlsplit(link).query
            token = next(
                (
                    unquote(v)
                    for k, _, v in (p.partition("=") for p in query.split("&"))
                    if k == "token"
                ),
                "",
            )
        with self._lock:
            user_id = self._links.get(token)
            return self.users[user_id]["email"] if user_id in self.users else None

    def secrets(self) -> list[str]:
        with self._lock:
            links = list(self._issued)
        tokens = [link.partition("token=")[2] for link in links]
        return [
            self.admin_token,
            self.admin_pat,
            self.editor_token,
            self.client_token,
            *links,
            *tokens,
        ]

    def error_body(self, status: int) -> Any:
        names = {
            400: "BadDataError",
            401: "AuthenticationRequired",
            403: "NoAccessError",
            404: "NotFoundError",
            429: "RateLimitError",
        }
        return {"name": names.get(status, "UnknownError"), "message": f"injected {status}"}

    def redact(self, step: str, query: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        if "token" in query:
            query["token"] = REDACTED
        return query, body

    def routes(self) -> Iterable[Route]:
        return (
            Route(
                "GET", re.compile("/health"), "other", lambda _r: Response(200, {"health": "GOOD"})
            ),
            Route("GET", re.compile("/api/admin/user-admin/search"), "lookup", self._search),
            Route(
                "GET", re.compile("/api/admin/user-admin/admin-count"), "check", self._admin_count
            ),
            Route(
                "GET", re.compile(r"/api/admin/user-admin/(?P<id>\d+)"), "lookup", self._get_user
            ),
            Route("POST", re.compile(_RESET_PATH), "action", self._reset),
            Route("GET", re.compile("/auth/reset/validate"), "validate", self._validate),
        )

    def _auth(self, request: Request, *, admin: bool) -> Response | None:
        header = request.headers.get("authorization")
        if not header:
            return _error(
                401,
                "AuthenticationRequired",
                "You must log in to use Unleash. Your request had no authorization "
                "header, so we could not authorize you.",
            )
        token = header.removeprefix("Bearer ").strip()
        if token == self.client_token:
            return Response(403, dict(_WRONG_TYPE))
        if token not in (self.admin_token, self.admin_pat, self.editor_token):
            return _error(401, "UnauthorizedError", "You must log in to use Unleash.")
        if admin and token not in (self.admin_token, self.admin_pat):
            return _error(403, "PermissionError", _NEED_ADMIN)
        return None

    def _search(self, request: Request) -> Response:
        denied = self._auth(request, admin=False)
        if denied:
            return denied
        q = request.query.get("q", "").strip().lower()
        if len(q) < 2:
            return Response(200, [])
        hidden = ("rootRole", "loginAttempts")  # the search answer leaves these out
        found = [
            {k: v for k, v in u.items() if k not in hidden}
            for u in self.users.values()
            if u["email"].startswith(q) or u["name"].lower().startswith(q)
        ]
        return Response(200, found)

    def _get_user(self, request: Request) -> Response:
        denied = self._auth(request, admin=True)
        if denied:
            return denied
        user = self.users.get(int(request.params["id"]))
        if user is None:
            return _error(404, "NotFoundError", "Could not find user with id")
        return Response(200, dict(user))

    def _limited(self) -> Response | None:
        """The reset endpoint's per-client limit: counted before anything else is looked at."""
        now = time.monotonic()
        if self._window is None or now - self._window[0] >= self.rate_limit_seconds:
            self._window = (now, 0)
        start, calls = self._window
        self._window = (start, calls + 1)
        if calls + 1 <= self.endpoint_limit:
            return None
        wait = max(1, math.ceil(self.rate_limit_seconds - (now - start)))
        return Response(
            429,
            _TOO_MANY,
            {"Content-Type": "text/html; charset=utf-8", "Retry-After": str(wait)},
        )

    def _admin_count(self, request: Request) -> Response:
        denied = self._auth(request, admin=True)
        if denied:
            return denied
        admins = sum(1 for u in self.users.values() if u["rootRole"] == 1)
        return Response(200, {"password": admins + 1, "noPassword": 0, "service": 0})

    def _reset(self, request: Request) -> Response:
        limited = self._limited()
        if limited:
            return limited
        denied = self._auth(request, admin=True)
        if denied:
            return denied
        if request.content_type != "application/json":
            return _error(
                415, "ContentTypeError", "We do not accept the content-type you provided."
            )
        body = request.json
        if not isinstance(body, dict) or "id" not in body:
            return _error(
                400,
                "BadDataError",
                "Request validation failed: your request body or params contain invalid data.",
            )
        wanted = str(body["id"]).strip().lower()
        if not wanted:  # the real server fails this way on an empty id
            return _error(
                500,
                "UnknownError",
                "Can only find users with id, username or email.",
                with_id=False,
            )
        user = next((u for u in self.users.values() if u["email"] == wanted), None)
        if user is None:
            return _error(404, "NotFoundError", "No user found", with_id=False)
        if user["scimId"] is not None:
            return _error(403, "ForbiddenError", _SCIM)
        now = time.monotonic()
        last = self._last_reset.get(user["id"])
        if last is not None and now - last < self.rate_limit_seconds:
            return _error(429, "RateLimitError", _RATE_LIMITED, with_id=False)
        self._last_reset[user["id"]] = now
        # Each new reset invalidates the user's earlier links.
        self._links = {t: uid for t, uid in self._links.items() if uid != user["id"]}
        token = "$2b$10$" + "".join(secrets.choice(_BCRYPT_ALPHABET) for _ in range(53))
        self._links[token] = user["id"]
        link = f"{self.url}/reset-password?token={token}"
        self._issued.append(link)
        return Response(200, {"resetPasswordUrl": link})

    def _validate(self, request: Request) -> Response:
        token = request.query.get("token", "")
        user_id = self._links.get(token)
        user = self.users.get(user_id) if user_id is not None else None
        if user is None:
            return _error(401, "InvalidTokenError", "Token was not valid", with_id=False)
        return Response(
            200,
            {
                "token": token,
                "createdBy": "admin",
                "email": user["email"],
                "name": user["name"],
                "id": user["id"],
                "role": {
                    "id": user["rootRole"],
                    "type": "root",
                    "name": _ROLE_NAMES.get(user["rootRole"], "Custom"),
                },
            },
        )
