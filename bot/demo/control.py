"""The running demo's side of ``say``/``click``: a token-guarded JSON endpoint on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from bot.demo import report
from bot.demo.client import DemoError, DemoState
from bot.demo.rig import Rig
from bot.server import BackgroundServer
from bot.store.models import FINAL_STATES, RequestState

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

COMMAND = "/reset-password"
MAX_BODY = 64 * 1024


_HANDLE = re.compile(r"(?<![<\w])@([a-z][a-z0-9._-]*)")


class Controller:
    """Acts for people in the running demo, one action at a time."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self._lock = threading.Lock()

    def say(self, user: str, text: str) -> str:
        words = text.strip()
        if words.startswith("/"):
            command, _, words = words.partition(" ")
            if command != COMMAND:
                raise DemoError(f"only {COMMAND} exists here, not {command}")
        uid = self._person(user)
        if not words.strip():
            raise DemoError(
                f"{COMMAND} alone opens a form, which cannot be filled in from here; "
                f'type the whole request, e.g. "{COMMAND} community '
                'uma@example.com locked out"'
            )
        words = self._mentions(words.strip())
        return self._acting(lambda: self.rig.say(uid, words))

    def _mentions(self, text: str) -> str:
        """``@dan`` as Slack sends it once the client has turned it into a mention (the
        manifest's ``should_escape``): ``<@U0DAN|dan>``."""
        ids = {p.handle: p.id for p in self.rig.people}
        groups = {handle: gid for gid, (handle, _) in self.rig.standin.usergroups.items()}

        def mention(match: re.Match[str]) -> str:
            handle = match.group(1)
            if handle in ids:
                return f"<@{ids[handle]}|{handle}>"
            if handle in groups:
                return f"<!subteam^{groups[handle]}|@{handle}>"
            return match.group(0)

        return _HANDLE.sub(mention, text)

    def click(
        self, user: str, button: str, request_id: str, *, note: str = "", reason: str = ""
    ) -> str:
        uid = self._person(user)
        if button not in ("approve", "deny"):
            raise DemoError(f"the buttons are approve and deny, not {button!r}")
        if button == "deny" and not reason.strip():
            raise DemoError('deny needs a reason: --reason "…" (the Deny form requires one)')
        request_id = request_id.strip().upper()
        try:
            state = self.rig.request(request_id).state
        except AssertionError:
            raise DemoError(f"no request {request_id}; the ids are in the transcript") from None
        if state is not RequestState.PENDING:
            raise DemoError(f"request {request_id} is {state.value}: its buttons are gone")

        def act() -> None:
            standin = self.rig.standin
            views, notes = len(standin.views_for(uid)), len(standin.ephemerals(user=uid))
            self.rig.click(uid, request_id, button)
            # The bot answers a click with a form (allowed) or an ephemeral (refused).
            self.rig.wait(
                lambda: (
                    len(standin.views_for(uid)) > views or len(standin.ephemerals(user=uid)) > notes
                ),
                10.0,
                what=f"the bot's answer to {user}'s click",
            )
            if len(standin.views_for(uid)) == views:
                return
            form = standin.views_for(uid)[-1]
            self.rig.driver.submit_view(
                uid,
                form,
                {"note": note}
                if button == "approve" and note
                else {"reason": reason}
                if button == "deny"
                else {},
            )
            # An accepted form moves the request on; an approval's provider call then runs in
            # the background until the request reaches a final state.
            with contextlib.suppress(AssertionError):
                self.rig.wait(
                    lambda: self.rig.request(request_id).state is not RequestState.PENDING, 5.0
                )
                self.rig.wait_state(request_id, *FINAL_STATES, timeout=15.0)

        return self._acting(act)

    def transcript(self) -> str:
        with self._lock:
            return report.transcript(self.rig)

    def home(self, user: str) -> str:
        uid = self._person(user)
        with self._lock:
            return report.home(self.rig, uid)

    def _acting(self, act: Callable[[], Any]) -> str:
        with self._lock:
            before = self.rig.standin.snapshot()
            act()
            self.rig.settle()
            return report.changes(before, self.rig.standin.snapshot())

    def _person(self, user: str) -> str:
        try:
            return self.rig.user_id(user if user.startswith("@") else f"@{user}")
        except KeyError:
            names = ", ".join(f"@{p.handle}" for p in self.rig.people)
            raise DemoError(f"nobody called {user} in the demo; people: {names}") from None


def _reply(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def control_app(controller: Controller, token: str) -> Callable[..., Iterable[bytes]]:
    """``POST /say``, ``POST /click``, ``GET /transcript``, ``POST /home``; every call needs the
    token."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not secrets.compare_digest(environ.get("HTTP_AUTHORIZATION", ""), f"Bearer {token}"):
            return _reply(start_response, "401 Unauthorized", {"ok": False, "error": "wrong token"})
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if 0 < length <= MAX_BODY else b"{}"
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            if (method, path) == ("POST", "/say"):
                output = controller.say(str(body["user"]), str(body["text"]))
            elif (method, path) == ("POST", "/click"):
                output = controller.click(
                    str(body["user"]),
                    str(body["button"]),
                    str(body["request_id"]),
                    note=str(body.get("note", "")),
                    reason=str(body.get("reason", "")),
                )
            elif (method, path) == ("GET", "/transcript"):
                output = controller.transcript()
            elif (method, path) == ("POST", "/home"):
                output = controller.home(str(body["user"]))
            else:
                return _reply(
                    start_response, "404 Not Found", {"ok": False, "error": "no such endpoint"}
                )
        except DemoError as exc:
            return _reply(start_response, "400 Bad Request", {"ok": False, "error": str(exc)})
        except (KeyError, ValueError) as exc:
            return _reply(
                start_response, "400 Bad Request", {"ok": False, "error": f"bad request: {exc}"}
            )
        except AssertionError as exc:  # the rig timed out waiting for the bot
            return _reply(
                start_response, "500 Internal Server Error", {"ok": False, "error": str(exc)}
            )
        return _reply(start_response, "200 OK", {"ok": True, "output": output})

    return app


def start_control(rig: Rig) -> tuple[BackgroundServer, DemoState]:
    token = secrets.token_urlsafe(24)
    server = BackgroundServer(control_app(Controller(rig), token)).start()
    return server, DemoState(pid=os.getpid(), url=server.url, token=token, bot_url=rig.events_url)
