"""The Slack stand-in's core: its state and lock, the directory, and the record of calls."""

from __future__ import annotations

import copy
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from bot.demo.standin import blockkit
from bot.demo.standin.workspace import BOT_USER_ID, Call, Channel, Message, User, Workspace

if TYPE_CHECKING:
    from bot.demo.standin.socket_mode import SocketModeServer


# Made-up credentials: the stand-in only checks that the bot sends the ones it was given.
BOT_TOKEN = "xoxb-standin-token"  # noqa: S105
APP_TOKEN = "xapp-1-standin-token"  # noqa: S105
ACK_WAIT = 5.0  # longest a response_url post waits for its command's ack (Slack allows 3 s)


@dataclass
class Failure:
    """One queued fault injection: the answer, and how many more calls get it."""

    error: str
    status: int
    retry_after: int | None
    times: int


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
class Trigger:
    """A trigger_id the driver handed out: whose it is, and whether a view used it."""

    user_id: str
    created: float
    used: bool = False


@dataclass
class ResponseTarget:
    """Where posts to a response_url land, and the message they may replace."""

    channel: str
    user_id: str
    original: Message | None = None
    uses: int = 0
    # A slash command's URL: Slack shows the ack first (at ack_ts, reserved when the command was
    # sent), so posts to the URL wait for it.
    awaiting_ack: bool = False
    ack_ts: str | None = None


@dataclass
class Reply:
    """An HTTP answer: a JSON body, or a plain-text one when ``body`` is a string."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class StandInCore:
    """What every part of ``SlackStandIn`` shares; the parts are its mixin subclasses.

    The underscore methods here and in the parts change the state: they run with the lock held.
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
        self._failures: dict[str, deque[Failure]] = {}
        self._triggers: dict[str, Trigger] = {}
        self._responses: dict[str, ResponseTarget] = {}
        self._dms: dict[str, str] = {}
        self._ids = blockkit.IdFiller()
        self._counter = itertools.count(1)
        self._last_ts = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._socket_mode: SocketModeServer | None = None
        # User groups: id → (handle, members); members may change while the bot runs.
        self.usergroups: dict[str, tuple[str, set[str]]] = {}
        self.homes: dict[str, dict[str, Any]] = {}  # each person's published Home tab
        self.add_user(BOT_USER_ID, bot_name, real_name=bot_name, is_bot=True)

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

    def add_usergroup(self, id: str, handle: str, members: set[str]) -> None:
        with self._lock:
            self.usergroups[id] = (handle, set(members))

    def set_usergroup_members(self, id: str, members: set[str]) -> None:
        with self._lock:
            handle, _ = self.usergroups[id]
            self.usergroups[id] = (handle, set(members))

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
