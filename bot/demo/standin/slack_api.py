"""A loopback Slack Web API stand-in: records every call, keeps channel state, injects failures."""

from __future__ import annotations

import copy
import itertools
import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from bot.demo.standin import blockkit
from bot.demo.standin.workspace import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    Call,
    Channel,
    Command,
    Message,
    ModalView,
    User,
    Version,
    Workspace,
)

if TYPE_CHECKING:
    from bot.demo.standin.socket_mode import SocketModeServer

log = logging.getLogger(__name__)
T = TypeVar("T")
# Fields slack_sdk may send as JSON strings inside a form body.
JSON_FIELDS = ("blocks", "attachments", "view", "metadata")
RECENT_CALLS_SHOWN = 15
# Made-up credentials: the stand-in only checks that the bot sends the ones it was given.
BOT_TOKEN = "xoxb-standin-token"  # noqa: S105
APP_TOKEN = "xapp-1-standin-token"  # noqa: S105
ACK_WAIT = 5.0  # longest a response_url post waits for its command's ack (Slack allows 3 s)


class ApiError(Exception):
    """An error answer (``{"ok": false, "error": ...}``) from a method handler."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class Violation:
    """Something the bot sent that real Slack would refuse (or show broken)."""

    method: str
    problems: list[str]
    payload: Any = None


@dataclass
class _Failure:
    error: str
    status: int
    retry_after: int | None
    times: int


@dataclass
class _Trigger:
    user_id: str
    created: float
    used: bool = False


@dataclass
class _ResponseTarget:
    channel: str
    user_id: str
    original: Message | None = None
    uses: int = 0
    # A slash command's URL: Slack shows the ack first (at ack_ts, reserved when the command was
    # sent), so posts to the URL wait for it.
    awaiting_ack: bool = False
    ack_ts: str | None = None


@dataclass
class _Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class SlackStandIn:
    """A local Slack: point a WebClient at ``api_url`` and drive the bot with ``SlackDriver``.

    Permissive by default: any ``C…``/``G…`` channel id exists and has the bot in it, unless
    ``strict_channels`` is set, when only ``add_channel`` ones exist.
    """

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        bot_name: str = "resetbot",
        host: str = "127.0.0.1",
        port: int = 0,
        strict_channels: bool = False,
        trigger_ttl: float | None = None,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.bot_name = bot_name
        self.strict_channels = strict_channels
        # Slack's trigger_ids expire after 3 s; off by default so a slow CI box stays green.
        self.trigger_ttl = trigger_ttl
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._state = Workspace()
        self._calls: list[Call] = []
        self._violations: list[Violation] = []
        self._failures: dict[str, deque[_Failure]] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._responses: dict[str, _ResponseTarget] = {}
        self._dms: dict[str, str] = {}
        self._ids = blockkit.IdFiller()
        self._counter = itertools.count(1)
        self._last_ts = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._socket_mode: SocketModeServer | None = None
        self.add_user(BOT_USER_ID, bot_name, real_name=bot_name, is_bot=True)

    # -- life-cycle -------------------------------------------------------------------------

    def start(self) -> SlackStandIn:
        if self._server is not None:
            return self
        server = _Server((self._host, self._port), _Handler)
        server.standin = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        # The Web API goes first: a Socket Mode client that loses its connection reconnects
        # through apps.connections.open, which must not start a fresh server meanwhile.
        if self._server is not None:
            self._server.shutdown()
            # Joins the request threads too (block_on_close), so nothing outlives the stand-in.
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
        with self._lock:
            self._server = None
            self._thread = None
            socket_mode, self._socket_mode = self._socket_mode, None
        if socket_mode is not None:
            socket_mode.stop()

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """The WebClient ``base_url`` (ends with a slash, as slack_sdk needs)."""
        return f"{self.url}/api/"

    @property
    def socket_mode(self) -> SocketModeServer:
        """The Socket Mode server behind ``apps.connections.open``, started on first use."""
        from bot.demo.standin.socket_mode import SocketModeServer

        with self._lock:
            if self._server is None:
                raise RuntimeError("the stand-in is not started")
            if self._socket_mode is None or not self._socket_mode.running:
                self._socket_mode = SocketModeServer(host=self._host).start()
            return self._socket_mode

    # -- the directory ----------------------------------------------------------------------

    def add_user(
        self,
        id: str,
        name: str,
        real_name: str | None = None,
        tz: str = "UTC",
        is_bot: bool = False,
        email: str | None = None,
    ) -> User:
        user = User(id=id, name=name, real_name=real_name, tz=tz, is_bot=is_bot, email=email)
        with self._lock:
            self._state.users[id] = user
        return user

    def add_channel(
        self, id: str, name: str, *, members: set[str] | None = None, bot_member: bool = True
    ) -> Channel:
        channel = Channel(id=id, name=name, members=members, bot_member=bot_member)
        with self._lock:
            self._state.channels[id] = channel
        return channel

    def user(self, user_id: str) -> User | None:
        with self._lock:
            return self._state.users.get(user_id)

    def channel_name(self, channel_id: str) -> str:
        with self._lock:
            return self._state.channel_name(channel_id)

    # -- what the driver mints --------------------------------------------------------------

    def new_trigger(self, user_id: str) -> str:
        trigger_id = f"{next(self._counter)}.{int(time.time())}.{secrets.token_hex(8)}"
        with self._lock:
            self._triggers[trigger_id] = _Trigger(user_id=user_id, created=time.monotonic())
        return trigger_id

    def new_response_url(
        self,
        channel: str,
        user_id: str,
        *,
        message: Message | None = None,
        awaits_ack: bool = False,
    ) -> str:
        """A ``response_url``; ``message`` is what ``replace_original`` replaces (if any).

        With ``awaits_ack`` (a slash command's), posts to it wait until ``release_response_url``
        or ``apply_command_ack``: the bot's worker may post before its own ack has come back.
        """
        token = secrets.token_urlsafe(12)
        with self._lock:
            self._responses[token] = _ResponseTarget(
                channel=channel,
                user_id=user_id,
                original=message,
                awaiting_ack=awaits_ack,
                ack_ts=self._next_ts() if awaits_ack else None,
            )
        return f"{self.url}/response/{token}"

    def release_response_url(self, response_url: str) -> None:
        """The command's delivery is over (acked or not): posts to its URL go ahead."""
        with self._changed:
            target = self._responses.get(_token_of(response_url))
            if target is not None:
                target.awaiting_ack = False
            self._changed.notify_all()

    # -- failure injection ------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        *,
        status: int | None = None,
        retry_after: int | None = 1,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``error`` (or a plain 5xx).

        ``ratelimited`` defaults to HTTP 429 with ``Retry-After`` like Slack; ``status=503``
        gives a plain-text server error; anything else is a 200 with ``ok: false``.
        ``method`` may also be ``"response_url"``.
        """
        if status is None:
            status = 429 if error == "ratelimited" else 200
        with self._lock:
            self._failures.setdefault(method, deque()).append(
                _Failure(error=error, status=status, retry_after=retry_after, times=times)
            )

    # -- reading the state ------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    @property
    def violations(self) -> list[Violation]:
        with self._lock:
            return list(self._violations)

    def calls_to(self, method: str, **params: Any) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if _matches(c, method, params)]

    def mark(self) -> int:
        """A position in ``calls``: pass it as ``since=`` to wait only for later calls."""
        with self._lock:
            return len(self._calls)

    def snapshot(self) -> Workspace:
        with self._lock:
            return copy.deepcopy(self._state)

    def transcript(self, **options: Any) -> str:
        from bot.demo.standin.transcript import render

        return render(self.snapshot(), **options)

    def messages(
        self, channel: str | None = None, *, ephemeral: bool = False, deleted: bool = False
    ) -> list[Message]:
        """Messages in posting order (thread replies included); ephemerals only if asked."""
        with self._lock:
            return [
                m
                for m in self._state.messages
                if (channel is None or m.channel == channel)
                and (ephemeral or not m.is_ephemeral)
                and (deleted or not m.deleted)
            ]

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[Message]:
        with self._lock:
            return [
                m
                for m in self._state.messages
                if m.is_ephemeral
                and not m.deleted
                and (channel is None or m.channel == channel)
                and (user is None or m.ephemeral_to == user)
            ]

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The replies under the message ``ts``."""
        return [m for m in self.messages(channel) if m.thread_ts == ts and m.ts != ts]

    def dm_channel(self, user_id: str) -> str:
        """The stable ``D…`` id of the bot's DM with a user (as conversations.open answers)."""
        with self._lock:
            return self._open_dm(user_id)

    def dms(self, user_id: str) -> list[Message]:
        with self._lock:
            channel = self._dms.get(user_id)
        return self.messages(channel) if channel else []

    def message(self, channel: str, ts: str) -> Message | None:
        with self._lock:
            return self._state.find(channel, ts)

    def latest_message(
        self,
        channel: str | None = None,
        *,
        containing: str | None = None,
        with_buttons: bool = False,
        ephemeral_to: str | None = None,
        top_level: bool = False,
    ) -> Message | None:
        with self._lock:
            for m in reversed(self._state.messages):
                if m.deleted or (channel is not None and m.channel != channel):
                    continue
                if (ephemeral_to or None) != m.ephemeral_to:
                    continue
                if top_level and m.is_reply:
                    continue
                if with_buttons and not m.buttons():
                    continue
                if containing is not None and containing not in m.all_text():
                    continue
                return m
        return None

    def view(self, view_id: str) -> ModalView | None:
        with self._lock:
            return self._state.views.get(view_id)

    def views_for(self, user_id: str, *, open_only: bool = False) -> list[ModalView]:
        with self._lock:
            return [
                v
                for v in self._state.views.values()
                if v.user_id == user_id and (v.open or not open_only)
            ]

    def view_for_trigger(self, trigger_id: str) -> ModalView | None:
        with self._lock:
            for v in self._state.views.values():
                if v.trigger_id == trigger_id:
                    return v
        return None

    # -- waiting without sleeping -----------------------------------------------------------

    def wait_for(
        self,
        match: str | Callable[[Call], bool],
        timeout: float = 5.0,
        *,
        count: int = 1,
        since: int = 0,
        **params: Any,
    ) -> Call:
        """The ``count``-th call (from index ``since``) of a method or matching a predicate.

        ``params`` must be equal in the call's parameters (``wait_for("chat.update", ts=ts)``).
        """

        def found() -> Call | None:
            hits = [
                c
                for c in self._calls[since:]
                if (match(c) if callable(match) else _matches(c, match, params))
            ]
            return hits[count - 1] if len(hits) >= count else None

        what = f"to {match}" if isinstance(match, str) else "matching the predicate"
        where = f" with {params}" if params else ""
        nth = f" #{count}" if count > 1 else ""
        return self.wait_until(found, timeout, what=f"call{nth} {what}{where}")

    def wait_until(
        self, condition: Callable[[], T | None], timeout: float = 5.0, *, what: str = "condition"
    ) -> T:
        """Re-check ``condition`` (under the lock) on every change until it is truthy."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = condition()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout}s waiting for {what}; recent calls:\n"
                        + self._describe_recent()
                    )
                self._changed.wait(remaining)

    def wait_for_message(
        self,
        channel: str | None = None,
        *,
        containing: str | None = None,
        with_buttons: bool = False,
        ephemeral_to: str | None = None,
        timeout: float = 5.0,
    ) -> Message:
        return self.wait_until(
            lambda: self.latest_message(
                channel, containing=containing, with_buttons=with_buttons, ephemeral_to=ephemeral_to
            ),
            timeout,
            what=f"a message in {channel or 'any channel'} containing {containing!r}",
        )

    def _describe_recent(self) -> str:
        lines = []
        for c in self._calls[-RECENT_CALLS_SHOWN:]:
            outcome = "ok" if c.ok else (c.error or f"http_{c.status}")
            brief = " ".join(f"{k}={_short(v)}" for k, v in c.params.items())
            lines.append(f"  {c.method} {brief} -> {outcome}".replace("  -> ", " -> "))
        return "\n".join(lines) or "  (none)"

    # -- hooks for the driver: what Slack itself does with acks ----------------------------

    def record_command(self, channel: str, user_id: str, command: str, text: str) -> None:
        with self._changed:
            self._ensure_channel(channel)
            self._state.commands.append(
                Command(
                    channel=channel, user=user_id, command=command, text=text, ts=self._next_ts()
                )
            )
            self._changed.notify_all()

    def apply_command_ack(self, response_url: str, body: Mapping[str, Any] | None) -> None:
        """A slash command's ack body is shown like a response_url post (ephemeral by default)."""
        with self._changed:
            self._record("ack", {"type": "slash_commands", "body": body}, 200, {"ok": True})
            target = self._responses.get(_token_of(response_url))
            if target is not None:
                target.awaiting_ack = False
            if body and (body.get("text") or body.get("blocks")):
                problems = blockkit.check_message(body.get("text"), body.get("blocks"))
                if problems:
                    self._violations.append(Violation("ack", problems, dict(body)))
                else:
                    self._respond(_token_of(response_url), dict(body), via="ack")
            self._changed.notify_all()

    def begin_view_submission(self, view_id: str) -> None:
        """A submission is on its way to the app: hold updates to the view until its ack."""
        with self._changed:
            modal = self._state.views.get(view_id)
            if modal is not None:
                modal.awaiting_ack = True

    def end_view_submission(self, view_id: str) -> None:
        """The submission got no ack (refused, timed out): stop holding updates."""
        with self._changed:
            modal = self._state.views.get(view_id)
            if modal is not None and modal.awaiting_ack:
                modal.awaiting_ack = False
                self._changed.notify_all()

    def apply_view_ack(self, view_id: str, body: Mapping[str, Any] | None) -> None:
        """What Slack does with a view_submission ack: close, show errors, update, push, clear."""
        with self._changed:
            self._record(
                "ack",
                {"type": "view_submission", "view_id": view_id, "body": body},
                200,
                {"ok": True},
            )
            modal = self._state.views.get(view_id)
            if modal is None:
                return
            modal.awaiting_ack = False
            modal.errors = {}
            action = (body or {}).get("response_action")
            if action is None:
                self._close(modal, "submit")
            elif action == "errors":
                errors = dict((body or {}).get("errors") or {})
                inputs = {str(b.get("block_id")) for b in modal.blocks if b.get("type") == "input"}
                unknown = sorted(set(errors) - inputs)
                if unknown:
                    self._violations.append(
                        Violation(
                            "ack", [f"errors for blocks that are not inputs: {unknown}"], body
                        )
                    )
                modal.errors = {str(k): str(v) for k, v in errors.items()}
            elif action in ("update", "push"):
                new_view = copy.deepcopy((body or {}).get("view"))
                problems = blockkit.check_view(new_view)
                if problems or not isinstance(new_view, dict):
                    self._violations.append(Violation("ack", problems, body))
                elif action == "update":
                    modal.versions.append(self._full_view(new_view, modal.id, modal))
                else:
                    self._new_modal(new_view, modal.user_id, None, previous=modal)
            elif action == "clear":
                self._close(modal, "clear", whole_stack=True)
            else:
                self._violations.append(
                    Violation("ack", [f"unknown response_action {action!r}"], body)
                )
            self._changed.notify_all()

    def apply_view_closed(self, view_id: str) -> None:
        with self._changed:
            modal = self._state.views.get(view_id)
            if modal is not None:
                self._close(modal, "close")
            self._changed.notify_all()

    def add_violation(self, method: str, problems: list[str], payload: Any = None) -> None:
        with self._changed:
            self._violations.append(Violation(method, problems, payload))
            self._changed.notify_all()

    # -- serving ----------------------------------------------------------------------------

    def _serve_api(self, method: str, params: dict[str, Any], token: str | None) -> _Reply:
        with self._changed:
            try:
                injected = self._pop_failure(method)
                if injected is not None:
                    reply = injected
                    self._record(method, params, reply.status, reply.body, injected=True)
                    return reply
                handler = _METHODS.get(method)
                if handler is None:
                    raise ApiError("unknown_method")
                self._check_token(method, token)
                body: Any = handler(self, params)
            except ApiError as exc:
                body = {"ok": False, "error": exc.error, **exc.extra}
            self._record(method, params, 200, body)
            return _Reply(200, body)

    def _serve_response_url(self, token: str, payload: dict[str, Any]) -> _Reply:
        with self._changed:
            target = self._responses.get(token)
            if target is not None and target.awaiting_ack:
                self._changed.wait_for(lambda: not target.awaiting_ack, timeout=ACK_WAIT)
            injected = self._pop_failure("response_url")
            if injected is not None:
                self._record("response_url", payload, injected.status, injected.body, injected=True)
                return injected
            if token not in self._responses:
                reply = _Reply(404, {"ok": False, "error": "expired_url"})
            else:
                problems = blockkit.check_message(payload.get("text"), payload.get("blocks"))
                if problems:
                    self._violations.append(Violation("response_url", problems, payload))
                    reply = _Reply(
                        400,
                        {
                            "ok": False,
                            "error": "invalid_blocks",
                            "response_metadata": {"messages": problems},
                        },
                    )
                else:
                    self._respond(token, payload, via="response_url")
                    reply = _Reply(200, {"ok": True})
            self._record("response_url", payload, reply.status, reply.body)
            return reply

    def _pop_failure(self, method: str) -> _Reply | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.popleft()
        if failure.status >= 500:
            # Slack's load balancers answer with a plain page, not JSON.
            return _Reply(failure.status, f"{failure.status} {HTTPStatus(failure.status).phrase}")
        headers = {}
        if failure.status == 429 and failure.retry_after is not None:
            headers["Retry-After"] = str(failure.retry_after)
        return _Reply(failure.status, {"ok": False, "error": failure.error}, headers)

    def _check_token(self, method: str, token: str | None) -> None:
        if not token:
            raise ApiError("not_authed")
        if token not in (self.bot_token, self.app_token):
            raise ApiError("invalid_auth")
        wants_app_token = method == "apps.connections.open"
        if (token == self.app_token) != wants_app_token:
            raise ApiError("not_allowed_token_type")

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        status: int,
        response: Any,
        *,
        injected: bool = False,
    ) -> None:
        self._calls.append(
            Call(
                method=method,
                params=params,
                time=time.time(),
                status=status,
                response=copy.deepcopy(response),
                injected=injected,
            )
        )
        self._changed.notify_all()

    # -- state changes (lock held) ----------------------------------------------------------

    def _next_ts(self) -> str:
        # Strictly increasing even within one microsecond: Slack's ts is a message's identity.
        micros = max(int(time.time() * 1_000_000), self._last_ts + 100)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _ensure_channel(self, channel_id: str) -> Channel:
        channel = self._state.channels.get(channel_id)
        if channel is None:
            channel = Channel(id=channel_id, name=channel_id.lower())
            self._state.channels[channel_id] = channel
        return channel

    def _resolve_channel(self, channel_id: Any) -> str:
        """The channel a post lands in; a user id means the bot's DM with that user."""
        if not channel_id or not isinstance(channel_id, str):
            raise ApiError("channel_not_found")
        if channel_id[0] in "UW":
            return self._open_dm(channel_id)
        if channel_id[0] == "D":
            if channel_id not in self._state.channels:
                raise ApiError("channel_not_found")
            return channel_id
        if channel_id[0] not in "CG":
            raise ApiError("channel_not_found")
        channel = self._state.channels.get(channel_id)
        if channel is None:
            if self.strict_channels:
                raise ApiError("channel_not_found")
            channel = self._ensure_channel(channel_id)
        if not channel.bot_member:
            raise ApiError("not_in_channel")
        return channel_id

    def _open_dm(self, user_id: str) -> str:
        channel_id = self._dms.get(user_id)
        if channel_id is None:
            channel_id = f"D0{len(self._dms) + 1:07d}"
            self._dms[user_id] = channel_id
            self._state.channels[channel_id] = Channel(
                id=channel_id, name=f"dm-{self._state.user_name(user_id)}", dm_user=user_id
            )
        return channel_id

    def _check_blocks(self, method: str, params: dict[str, Any]) -> None:
        problems = blockkit.check_message(params.get("text"), params.get("blocks"))
        if problems:
            self._violations.append(Violation(method, problems, params))
            if any("text is longer" in p for p in problems):
                raise ApiError("msg_too_long")
            raise ApiError("invalid_blocks", response_metadata={"messages": problems})

    def _post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        thread_ts: str | None = None,
        ephemeral_to: str | None = None,
        via: str,
        metadata: dict[str, Any] | None = None,
        ts: str | None = None,
    ) -> Message:
        message = Message(
            channel=channel,
            ts=ts or self._next_ts(),
            user=BOT_USER_ID,
            text=text,
            blocks=self._ids.fill(copy.deepcopy(blocks or [])),
            thread_ts=thread_ts or None,
            bot_id=BOT_ID,
            ephemeral_to=ephemeral_to,
            via=via,
            metadata=metadata,
        )
        self._state.messages.append(message)
        return message

    def _edit(
        self, message: Message, text: str | None, blocks: list[dict[str, Any]] | None
    ) -> None:
        message.history.append(
            Version(text=message.text, blocks=message.blocks, edited_at=self._next_ts())
        )
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = self._ids.fill(copy.deepcopy(blocks))

    def _respond(self, token: str, payload: dict[str, Any], *, via: str) -> None:
        target = self._responses.get(token)
        if target is None:
            return
        target.uses += 1
        original = target.original
        text = payload.get("text")
        blocks = payload.get("blocks")
        if payload.get("delete_original") and original is not None:
            original.deleted = True
            return
        if _truthy(payload.get("replace_original")) and original is not None:
            self._edit(original, str(text or ""), blocks if blocks is not None else [])
            return
        in_channel = payload.get("response_type") == "in_channel"
        message = self._post(
            channel=target.channel,
            text=str(text or ""),
            blocks=blocks,
            thread_ts=payload.get("thread_ts"),
            ephemeral_to=None if in_channel else target.user_id,
            via=via,
            ts=target.ack_ts if via == "ack" else None,
        )
        if original is None:
            target.original = message

    def _full_view(
        self, view: dict[str, Any], view_id: str, modal: ModalView | None
    ) -> dict[str, Any]:
        """The view object Slack answers with: ids, hash, state and defaults added."""
        full = copy.deepcopy(view)
        self._ids.fill(full.setdefault("blocks", []))
        root = view_id
        previous = None
        if modal is not None and modal.previous_view_id:
            previous = modal.previous_view_id
            root = str(self._state.views[previous].current.get("root_view_id", previous))
        full.update(
            {
                "id": view_id,
                "team_id": TEAM_ID,
                "app_id": APP_ID,
                "bot_id": BOT_ID,
                "app_installed_team_id": TEAM_ID,
                "state": {"values": {}},
                "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
                "root_view_id": root,
                "previous_view_id": previous,
            }
        )
        for key, default in (
            ("private_metadata", ""),
            ("callback_id", ""),
            ("external_id", ""),
            ("clear_on_close", False),
            ("notify_on_close", False),
        ):
            full.setdefault(key, default)
        return full

    def _new_modal(
        self,
        view: dict[str, Any],
        user_id: str,
        trigger_id: str | None,
        *,
        previous: ModalView | None = None,
    ) -> ModalView:
        view_id = f"V0{next(self._counter):08d}"
        modal = ModalView(
            id=view_id,
            user_id=user_id,
            trigger_id=trigger_id,
            previous_view_id=previous.id if previous else None,
        )
        modal.versions.append(self._full_view(view, view_id, modal))
        self._state.views[view_id] = modal
        return modal

    def _close(self, modal: ModalView, how: str, *, whole_stack: bool = False) -> None:
        modal.open = False
        modal.closed_by = how
        if whole_stack and modal.previous_view_id:
            previous = self._state.views.get(modal.previous_view_id)
            if previous is not None and previous.open:
                self._close(previous, how, whole_stack=True)

    def _use_trigger(self, trigger_id: Any) -> _Trigger:
        trigger = self._triggers.get(str(trigger_id or ""))
        if trigger is None:
            raise ApiError("invalid_trigger_id")
        if trigger.used:
            raise ApiError("exchanged_trigger_id")
        if self.trigger_ttl is not None and time.monotonic() - trigger.created > self.trigger_ttl:
            raise ApiError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _valid_view(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        view = params.get("view")
        problems = blockkit.check_view(view)
        if problems:
            self._violations.append(Violation(method, problems, params))
            # Slack answers views.* with invalid_arguments and the JSON-pointer messages.
            raise ApiError("invalid_arguments", response_metadata={"messages": problems})
        assert isinstance(view, dict)
        return view

    # -- Web API methods (lock held) --------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Stand-in",
            "user": self.bot_name,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        if not (params.get("text") or params.get("blocks") or params.get("attachments")):
            raise ApiError("no_text")
        self._check_blocks("chat.postMessage", params)
        thread_ts = params.get("thread_ts") or None
        if thread_ts and self._state.find(channel, str(thread_ts)) is None:
            # Slack would post it anyway, but a reply to nothing is always a bug in the bot.
            self._violations.append(
                Violation(
                    "chat.postMessage",
                    [f"thread_ts {thread_ts} is no message in {channel}"],
                    params,
                )
            )
        message = self._post(
            channel=channel,
            text=str(params.get("text") or ""),
            blocks=params.get("blocks"),
            thread_ts=thread_ts,
            via="chat.postMessage",
            metadata=params.get("metadata"),
        )
        return {"ok": True, "channel": channel, "ts": message.ts, "message": message.as_payload()}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        user = params.get("user")
        if not user:
            raise ApiError("user_not_found")
        if not (params.get("text") or params.get("blocks") or params.get("attachments")):
            raise ApiError("no_text")
        self._check_blocks("chat.postEphemeral", params)
        message = self._post(
            channel=channel,
            text=str(params.get("text") or ""),
            blocks=params.get("blocks"),
            thread_ts=params.get("thread_ts"),
            ephemeral_to=str(user),
            via="chat.postEphemeral",
        )
        return {"ok": True, "message_ts": message.ts}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        message = self._state.find(channel, str(params.get("ts") or ""))
        if message is None or message.deleted:
            raise ApiError("message_not_found")
        if message.user != BOT_USER_ID:
            raise ApiError("cant_update_message")
        self._check_blocks("chat.update", params)
        text = params.get("text")
        self._edit(message, None if text is None else str(text), params.get("blocks"))
        return {
            "ok": True,
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": message.as_payload(),
        }

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        message = self._state.find(channel, str(params.get("ts") or ""))
        if message is None or message.deleted:
            raise ApiError("message_not_found")
        message.deleted = True
        return {"ok": True, "channel": channel, "ts": message.ts}

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        ts = str(params.get("message_ts") or "")
        if self._state.find(channel, ts) is None:
            raise ApiError("message_not_found")
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"{self.url}/archives/{channel}/p{ts.replace('.', '')}",
        }

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = self._use_trigger(params.get("trigger_id") or params.get("interactivity_pointer"))
        view = self._valid_view("views.open", params)
        modal = self._new_modal(view, trigger.user_id, str(params.get("trigger_id") or ""))
        return {"ok": True, "view": copy.deepcopy(modal.current)}

    def _views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger_id = str(params.get("trigger_id") or params.get("interactivity_pointer") or "")
        trigger = self._use_trigger(trigger_id)
        view = self._valid_view("views.push", params)
        stack = [v for v in self._state.views.values() if v.user_id == trigger.user_id and v.open]
        if len(stack) >= 3:
            raise ApiError("push_limit_reached")
        modal = self._new_modal(
            view, trigger.user_id, trigger_id, previous=stack[-1] if stack else None
        )
        return {"ok": True, "view": copy.deepcopy(modal.current)}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = params.get("view_id")
        external_id = params.get("external_id")
        modal: ModalView | None = None
        if view_id:
            modal = self._state.views.get(str(view_id))
        elif external_id:
            modal = next(
                (v for v in self._state.views.values() if v.open and v.external_id == external_id),
                None,
            )
        else:
            raise ApiError("invalid_arguments")
        if modal is None or not modal.open:
            raise ApiError("not_found")
        if modal.awaiting_ack:
            # Slack applies a submission's response_action when the ack arrives; an update
            # the app sends after writing its ack comes later, as it would in Slack.
            self._changed.wait_for(lambda: not modal.awaiting_ack, timeout=ACK_WAIT)
        if params.get("hash") and params["hash"] != modal.hash:
            raise ApiError("hash_conflict")
        view = self._valid_view("views.update", params)
        modal.versions.append(self._full_view(view, modal.id, modal))
        return {"ok": True, "view": copy.deepcopy(modal.current)}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel"):
            channel = self._resolve_channel(params["channel"])
            return {"ok": True, "channel": {"id": channel}}
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if not users:
            raise ApiError("users_list_not_supplied")
        if len(users) > 1:
            raise ApiError("not_supported", detail="the stand-in models 1:1 DMs only")
        already = users[0] in self._dms
        channel = self._open_dm(users[0])
        out: dict[str, Any] = {
            "ok": True,
            "channel": {"id": channel, "is_im": True, "user": users[0]},
        }
        if already:
            out.update(no_op=True, already_open=True)
        return out

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._state.users.get(str(params.get("user") or ""))
        if user is None:
            raise ApiError("user_not_found")
        return {"ok": True, "user": user.as_payload()}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.socket_mode.new_url()}


_METHODS: dict[str, Callable[[SlackStandIn, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": SlackStandIn._auth_test,
    "chat.postMessage": SlackStandIn._chat_post_message,
    "chat.postEphemeral": SlackStandIn._chat_post_ephemeral,
    "chat.update": SlackStandIn._chat_update,
    "chat.delete": SlackStandIn._chat_delete,
    "chat.getPermalink": SlackStandIn._chat_get_permalink,
    "views.open": SlackStandIn._views_open,
    "views.push": SlackStandIn._views_push,
    "views.update": SlackStandIn._views_update,
    "conversations.open": SlackStandIn._conversations_open,
    "users.info": SlackStandIn._users_info,
    "apps.connections.open": SlackStandIn._apps_connections_open,
}


def _matches(call: Call, method: str, params: Mapping[str, Any]) -> bool:
    return call.method == method and all(call.params.get(k) == v for k, v in params.items())


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _token_of(response_url: str) -> str:
    return response_url.rstrip("/").rsplit("/", 1)[-1]


def parse_body(content_type: str, raw: bytes, query: str = "") -> dict[str, Any]:
    """Form or JSON parameters, with JSON-in-form fields (blocks, view…) decoded."""
    params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if raw:
        if "json" in content_type:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("a JSON body must be an object")
            params.update(data)
        else:
            form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
            params.update({k: v[-1] for k, v in form.items()})
    for key in JSON_FIELDS:
        value = params.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            params[key] = json.loads(value)
    return params


class _Server(ThreadingHTTPServer):
    standin: SlackStandIn
    daemon_threads = False
    block_on_close = True
    # The bot's worker pool calls in bursts: socketserver's default backlog of 5 drops SYNs
    # under load, and each dropped one costs the caller a 1 s retransmit.
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so server_close() never waits on an idle keep-alive.
    protocol_version = "HTTP/1.0"
    timeout = 10

    def do_POST(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        standin = self.server.standin
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            params = parse_body(self.headers.get("Content-Type", ""), raw, parts.query)
        except (ValueError, UnicodeDecodeError):
            self._send(_Reply(200, {"ok": False, "error": "invalid_json"}))
            return
        if parts.path.startswith("/api/"):
            token = None
            auth = self.headers.get("Authorization", "")
            if auth.lower().startswith("bearer "):
                token = auth[7:].strip()
            token = params.pop("token", None) or token
            self._send(standin._serve_api(parts.path[len("/api/") :], params, token))
        elif parts.path.startswith("/response/"):
            if isinstance(params.get("payload"), str):
                params = parse_body("application/json", params["payload"].encode())
            self._send(standin._serve_response_url(parts.path[len("/response/") :], params))
        else:
            self._send(_Reply(404, "not found"))

    def _send(self, reply: _Reply) -> None:
        if isinstance(reply.body, str):
            data = reply.body.encode("utf-8")
            content_type = "text/plain; charset=utf-8"
        else:
            data = json.dumps(reply.body).encode("utf-8")
            content_type = "application/json; charset=utf-8"
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("stand-in: " + format, *args)
