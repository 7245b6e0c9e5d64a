"""Talking to a running ``resetbot demo --keep-running`` from other ``resetbot demo`` commands.

The running demo serves a tiny JSON endpoint on 127.0.0.1 and writes its address and a random
token to a state file only the user can read (``$XDG_RUNTIME_DIR/resetbot/demo.json``, else
``~/.cache/resetbot/demo.json``). ``resetbot demo say`` and ``resetbot demo click`` read that file
and post there; the demo then drives its Slack stand-in exactly like the scripted scenes do
(signed requests into the real bot) and answers with what changed in the channels.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bot.demo import report
from bot.rig import Rig
from bot.server import BackgroundServer
from bot.store.models import FINAL_STATES, RequestState

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

COMMAND = "/reset-password"
MAX_BODY = 64 * 1024


class DemoError(Exception):
    """Something ``say``/``click`` cannot do; the message is shown as one line."""


def state_path() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path.home() / ".cache"
    return base / "resetbot" / "demo.json"


@dataclass(frozen=True, slots=True)
class DemoState:
    pid: int
    url: str
    token: str
    bot_url: str

    def as_json(self) -> str:
        return json.dumps({"pid": self.pid, "url": self.url, "token": self.token,
                           "bot_url": self.bot_url})


def read_state(path: Path | None = None) -> DemoState | None:
    """The running demo's state, or None when none runs (a stale file is ignored)."""
    path = path or state_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        state = DemoState(pid=int(data["pid"]), url=str(data["url"]), token=str(data["token"]),
                          bot_url=str(data["bot_url"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if _alive(state.pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process holds that pid; not ours to judge
    return True


def write_state(state: DemoState, path: Path | None = None) -> Path:
    path = path or state_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(state.as_json())
    os.replace(partial, path)
    return path


def remove_state(state: DemoState, path: Path | None = None) -> None:
    """Remove the state file if it is still this demo's (and its directory, if now empty)."""
    path = path or state_path()
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(current, dict) and current.get("token") == state.token:
        with contextlib.suppress(OSError):
            path.unlink()
        with contextlib.suppress(OSError):
            path.parent.rmdir()


# -- the running demo's side --------------------------------------------------------------------


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
        return self._acting(lambda: self.rig.say(uid, words.strip()))

    def click(self, user: str, button: str, request_id: str, *, note: str = "",
              reason: str = "") -> str:
        uid = self._person(user)
        if button not in ("approve", "deny"):
            raise DemoError(f"the buttons are approve and deny, not {button!r}")
        if button == "deny" and not reason.strip():
            raise DemoError("deny needs a reason: --reason \"…\" (the Deny form requires one)")
        request_id = request_id.strip().upper()
        try:
            state = self.rig.request(request_id).state
        except AssertionError:
            raise DemoError(f"no request {request_id}; the ids are in the transcript") from None
        if state is not RequestState.PENDING:
            raise DemoError(f"request {request_id} is {state.value}: its buttons are gone")

        def act() -> None:
            if button == "approve":
                self.rig.approve(uid, request_id, note=note)
            else:
                self.rig.deny(uid, request_id, reason)
            self._await_decision(request_id)

        return self._acting(act)

    def transcript(self) -> str:
        with self._lock:
            return report.transcript(self.rig)

    def _await_decision(self, request_id: str) -> None:
        # A refused click leaves the request pending; an accepted one moves it on, and an
        # approval's provider call then runs in the background until a final state.
        try:
            self.rig.wait(lambda: self.rig.request(request_id).state is not RequestState.PENDING,
                          1.0)
        except AssertionError:
            return
        with contextlib.suppress(AssertionError):
            self.rig.wait_state(request_id, *FINAL_STATES, timeout=15.0)

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
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])
    return [data]


def control_app(controller: Controller, token: str) -> Callable[..., Iterable[bytes]]:
    """``POST /say``, ``POST /click``, ``GET /transcript``; every call needs the token."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not secrets.compare_digest(environ.get("HTTP_AUTHORIZATION", ""), f"Bearer {token}"):
            return _reply(start_response, "401 Unauthorized", {"ok": False,
                                                               "error": "wrong token"})
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
                output = controller.click(str(body["user"]), str(body["button"]),
                                          str(body["request_id"]), note=str(body.get("note", "")),
                                          reason=str(body.get("reason", "")))
            elif (method, path) == ("GET", "/transcript"):
                output = controller.transcript()
            else:
                return _reply(start_response, "404 Not Found", {"ok": False,
                                                                "error": "no such endpoint"})
        except DemoError as exc:
            return _reply(start_response, "400 Bad Request", {"ok": False, "error": str(exc)})
        except (KeyError, ValueError) as exc:
            return _reply(start_response, "400 Bad Request",
                          {"ok": False, "error": f"bad request: {exc}"})
        except AssertionError as exc:  # the rig timed out waiting for the bot
            return _reply(start_response, "500 Internal Server Error",
                          {"ok": False, "error": str(exc)})
        return _reply(start_response, "200 OK", {"ok": True, "output": output})

    return app


def start_control(rig: Rig) -> tuple[BackgroundServer, DemoState]:
    token = secrets.token_urlsafe(24)
    server = BackgroundServer(control_app(Controller(rig), token)).start()
    return server, DemoState(pid=os.getpid(), url=server.url, token=token,
                             bot_url=rig.events_url)


# -- the other commands' side -------------------------------------------------------------------


def send(method: str, path: str, body: dict[str, Any] | None = None, *,
         timeout: float = 60.0) -> str:
    """Ask the running demo to act; what changed in its channels (or the transcript)."""
    state = read_state()
    if state is None:
        raise DemoError("no demo is running; start one with `resetbot demo --keep-running`")
    try:
        response = httpx.request(method, state.url + path, json=body, timeout=timeout,
                                 headers={"Authorization": f"Bearer {state.token}"})
        answer = response.json()
    except httpx.HTTPError as exc:
        raise DemoError(f"the demo (pid {state.pid}) does not answer at {state.url}: "
                        f"{type(exc).__name__}") from None
    except ValueError:
        raise DemoError(f"the demo answered {response.status_code} without JSON") from None
    if not answer.get("ok"):
        raise DemoError(str(answer.get("error") or f"the demo answered {response.status_code}"))
    return str(answer.get("output", ""))
