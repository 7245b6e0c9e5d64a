"""A whole resetbot on loopback: Slack stand-in, provider sandboxes and the real bot over HTTP.

The end-to-end tests, ``resetbot demo`` and the benchmarks all use this one rig, so what the
demo shows is exactly what the tests check: signed requests into the real WSGI endpoint, the
real store, real provider clients talking HTTP to the sandboxes.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bot.bootstrap import Web, Worker, build_web
from bot.config import Settings
from bot.demo.sandboxes import Sandbox, start_sandbox
from bot.demo.standin import Message, ModalView, SlackDriver, SlackStandIn
from bot.domain import roles
from bot.server import EVENTS_PATH, BackgroundServer
from bot.slack import blocks
from bot.store.db import Store
from bot.store.migrate import upgrade
from bot.store.models import FINAL_STATES, RequestState, ResetRequest, Role

SIGNING_SECRET = "rig-signing-secret-0123456789abcdef"  # noqa: S105 - loopback only
SUPPORT = "C0SUPPORT"


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    handle: str
    name: str
    role: Role | None = None
    provider: str | None = None  # scope of the role; None = every provider
    email: str | None = None  # as the workspace knows it (users.lookupByEmail)


VIC = "vic@example.com"
RAY = "ray@example.com"
PEOPLE = (
    Person("U0ALICE", "alice", "Alice Archer", Role.REQUESTER),
    Person("U0BOB", "bob", "Bob Baker", Role.APPROVER),
    Person("U0CAROL", "carol", "Carol Chen", Role.APPROVER),
    Person("U0DAN", "dan", "Dan Dunn"),
    Person("U0ERIN", "erin", "Erin Ellis", Role.APPROVER, "flags"),
    Person("U0ADA", "ada", "Ada Admin"),  # admin through config, like a new install
    # Whose accounts the sandboxes hold too: the person whose password is reset, in Slack.
    Person("U0VIC", "vic", "Vic Vance", email=VIC),
    Person("U0RAY", "ray", "Ray Root", email=RAY),  # an administrator at every provider
)
ADMIN = "U0ADA"
SECURITY = "C0SECURITY"
ESCALATIONS = "C0ESCALATE"
MANAGERS = "S0MANAGERS"  # a user group, @managers: @dan is in it
OWNER_ACTIONS = {
    "confirm": blocks.CONFIRM_ACTION,
    "reject": blocks.REJECT_ACTION,
    "dispute": blocks.DISPUTE_ACTION,
}

# Provider instances as design.md names them, and the accounts each sandbox holds.
INSTANCES: dict[str, str] = {
    "community": "mighty_networks",
    "flags": "unleash",
    "edge": "f5xc",
    "gateway": "tyk",
}
_TOM: dict[str, Any] = {"email": "tom@example.com", "name": "Tom Taylor"}
_UMA: dict[str, Any] = {"email": "uma@example.com", "name": "Uma Upton"}
_OWNERS: list[dict[str, Any]] = [
    {"email": VIC, "name": "Vic Vance"},
    {"email": RAY, "name": "Ray Root", "admin": True},
]
ACCOUNTS: dict[str, list[dict[str, Any]]] = {
    "mighty_networks": [_TOM, _UMA, *_OWNERS],
    "unleash": [_TOM, _UMA, *_OWNERS],
    "f5xc": [
        _TOM,
        {"email": "sam@example.com", "name": "Sam Sso", "sso": True},
        {"email": "ci-bot@example.com", "name": "CI Bot", "service": True},
        *_OWNERS,
    ],
    "tyk": [_TOM, _UMA, *_OWNERS],
}


class Clock:
    """A clock the rig moves by hand, so expiry needs no waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC).replace(microsecond=0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now


class ExactSettings(Settings):
    """Settings from the arguments alone: no ./resetbot.toml, .env or RESETBOT_* can leak in."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass
class Rig:
    """Everything on 127.0.0.1; ``with Rig(tmp_path) as rig:`` starts and stops it all."""

    workdir: Path
    database_url: str | None = None
    instances: Mapping[str, str] = field(default_factory=lambda: dict(INSTANCES))
    provider_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    settings_options: Mapping[str, Any] = field(default_factory=dict)
    people: tuple[Person, ...] = PEOPLE
    admins: tuple[str, ...] = (ADMIN,)
    clock: Clock = field(default_factory=Clock)
    approvals_channel: str | None = None
    bot_port: int = 0
    standin_port: int = 0
    workers: int = 8
    start_sweeper: bool = False
    # Each job is pickled and unpickled on its way to the pool, as `resetbot serve` sends it
    # to its worker process: a job that could not make that trip fails here, in the tests.
    check_jobs_pickle: bool = True
    progress: Callable[[str], None] = lambda _: None
    # Leak tests use recognisable credentials: the Slack ones, and a hook that may change a
    # sandbox's accepted credentials (instance name, sandbox) before its settings are read.
    bot_token: str | None = None
    signing_secret: str = SIGNING_SECRET
    prepare_sandbox: Callable[[str, Sandbox], None] | None = None

    standin: SlackStandIn = field(init=False)
    sandboxes: dict[str, Sandbox] = field(init=False, default_factory=dict)
    accounts: dict[str, dict[str, str]] = field(init=False, default_factory=dict)
    settings: Settings = field(init=False)
    web: Web = field(init=False)
    server: BackgroundServer = field(init=False)
    driver: SlackDriver = field(init=False)
    _started: list[Callable[[], None]] = field(init=False, default_factory=list)

    def start(self) -> Rig:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.progress("Slack stand-in")
        self.standin = SlackStandIn(port=self.standin_port).start()
        if self.bot_token:
            self.standin.bot_token = self.bot_token
        self._started.append(self.standin.stop)
        for person in self.people:
            self.standin.add_user(
                person.id, person.handle, real_name=person.name, email=person.email
            )
        self.standin.add_channel(SUPPORT, "it-support")
        self.standin.add_channel(SECURITY, "security")
        self.standin.add_channel(ESCALATIONS, "reset-escalations")
        self.standin.add_usergroup(MANAGERS, "managers", {"U0DAN"})
        if self.approvals_channel:
            self.standin.add_channel(self.approvals_channel, "reset-approvals")

        providers: dict[str, dict[str, Any]] = {}
        for name, kind in self.instances.items():
            self.progress(f"{kind} sandbox")
            sandbox = start_sandbox(kind)
            self._started.append(sandbox.stop)
            self.sandboxes[name] = sandbox
            if self.prepare_sandbox is not None:
                self.prepare_sandbox(name, sandbox)
            self.accounts[name] = {
                acct["email"]: sandbox.add_user(**acct) for acct in ACCOUNTS[kind]
            }
            options = {**sandbox.settings_dict(), "max_retries": 1, "timeout_seconds": 5}
            if self.approvals_channel:
                options["approvals_channel"] = self.approvals_channel
            options.update(self.provider_options.get(name, {}))
            providers[name] = options

        url = self.database_url or f"sqlite:///{self.workdir / 'resetbot.db'}"
        self.settings = ExactSettings.model_validate(
            {
                "database_url": url,
                "admins": list(self.admins),
                "security_channel": SECURITY,
                "slack": {
                    "api_url": self.standin.api_url,
                    "bot_token": self.standin.bot_token,
                    "signing_secret": self.signing_secret,
                },
                "providers": providers,
                **self.settings_options,
            }
        )
        self.progress("store")
        store = prepare_store(url, self.people)
        self.progress("bot")
        # Jobs on threads here: the clock and the store are shared with the tests.
        self.web = build_web(
            self.settings,
            store=store,
            clock=self.clock,
            workers=self.workers,
            check_pickle=self.check_jobs_pickle,
        )
        self._started.append(self.web.close)
        if self.start_sweeper:
            self.web.start()
        self.server = BackgroundServer(self.web.wsgi(), port=self.bot_port).start()
        self._started.append(self.server.stop)
        self.driver = SlackDriver(self.standin, self.events_url, self.signing_secret)
        self._started.append(self.driver.close)

    def stop(self) -> None:
        while self._started:
            stop = self._started.pop()
            with contextlib.suppress(Exception):  # stop the rest whatever one of them does
                stop()

    def __enter__(self) -> Rig:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def store(self) -> Store:
        return self.web.core.store

    @property
    def worker(self) -> Worker:
        """Where the bot's jobs run: in the rig, threads of the web process."""
        assert self.web.worker is not None
        return self.web.worker

    @property
    def events_url(self) -> str:
        return self.server.url + EVENTS_PATH

    def say(self, user: str, text: str, *, channel: str = SUPPORT, settle: bool = True) -> Any:
        """``/reset-password <text>`` typed by ``user`` (an id or a handle); by default returns
        once the bot is idle again, so the answer that replaces the ack is in."""
        response = self.driver.command(self.user_id(user), text, channel_id=channel)
        if settle:
            self.settle()
        return response

    def file(self, user: str, text: str, *, channel: str = SUPPORT, timeout: float = 10.0) -> str:
        """File by command and wait until the approval message is up; returns the request id."""
        before = self.request_ids()
        response = self.say(user, text, channel=channel)
        if response.status_code != 200:
            raise AssertionError(f"command answered {response.status_code}")
        return self._posted_after(before, timeout, what=f"a request filed by {user!r}")

    def file_by_form(
        self,
        user: str,
        provider: str,
        target: str,
        reason: str,
        *,
        action: str | None = None,
        channel: str = SUPPORT,
    ) -> ModalView:
        """The modal path: open the form, pick the provider, fill it in and submit."""
        uid = self.user_id(user)
        self.driver.command(uid, "", channel_id=channel)
        form = self.driver.last_opened_view(uid)
        self.driver.view_action(uid, form, blocks.PROVIDER_SELECT, provider)
        if action:  # the form grows an action select for providers with several actions
            self.wait(lambda: _has_block(self._view(form.id), "action"), what="the action select")
        form = self._view(form.id)
        values: dict[str, Any] = {"provider": provider, "user": target, "reason": reason}
        if action:
            values["action"] = action
        self.driver.submit_view(uid, form, values)
        return self._view(form.id)

    def file_form(
        self,
        user: str,
        provider: str,
        target: str,
        reason: str,
        *,
        action: str | None = None,
        channel: str = SUPPORT,
        timeout: float = 10.0,
    ) -> str:
        """``file_by_form``, then wait until the approval message is up; the request id."""
        before = self.request_ids()
        self.file_by_form(user, provider, target, reason, action=action, channel=channel)
        return self._posted_after(
            before, timeout, what=f"a request filed by {user!r} with the form"
        )

    def _posted_after(self, before: set[str], timeout: float, *, what: str) -> str:
        """The one request filed since ``before``, once its approval message is up."""
        new = self.wait(lambda: (self.request_ids() - before) or None, timeout, what=what)
        (request_id,) = new
        request_id = str(request_id)
        self.wait(
            lambda: self.request(request_id).approval_ts,
            timeout,
            what=f"the approval message for {request_id}",
        )
        return request_id

    def _view(self, view_id: str) -> ModalView:
        view = self.standin.view(view_id)
        if view is None:
            raise AssertionError(f"the stand-in holds no view {view_id}")
        return view

    def approval_message(self, request_id: str) -> Message:
        req = self.request(request_id)
        if not req.approval_ts or not req.approval_channel:
            raise AssertionError(f"{request_id} has no approval message")
        message = self.standin.message(req.approval_channel, req.approval_ts)
        if message is None:
            raise AssertionError(f"the stand-in holds no message for {request_id}")
        return message

    def click(self, user: str, request_id: str, button: str, **kwargs: Any) -> Any:
        action = {"approve": blocks.APPROVE_ACTION, "deny": blocks.DENY_ACTION}[button]
        return self.driver.click(
            self.user_id(user), self.approval_message(request_id), action, **kwargs
        )

    def approve(self, user: str, request_id: str, note: str = "") -> Any:
        """Approve, then submit the approval modal; returns the submission's response."""
        uid = self.user_id(user)
        mark = len(self.standin.views_for(uid))
        self.click(user, request_id, "approve")
        modal = self._new_modal(uid, mark)
        if modal is None:
            return None
        return self.driver.submit_view(uid, modal, {"note": note} if note else {})

    def deny(self, user: str, request_id: str, reason: str) -> Any:
        uid = self.user_id(user)
        mark = len(self.standin.views_for(uid))
        self.click(user, request_id, "deny")
        modal = self._new_modal(uid, mark)
        if modal is None:
            return None
        return self.driver.submit_view(uid, modal, {"reason": reason})

    def owner_dm(self, user: str, request_id: str, answer: str) -> Message:
        """The DM to ``user`` that offers ``answer`` ("confirm", "reject" or "dispute") for
        ``request_id``, once the bot has sent it."""
        uid = self.user_id(user)
        action = OWNER_ACTIONS[answer]

        def offered() -> Message | None:
            for message in reversed(self.standin.dms(uid)):
                if any(
                    e.get("action_id") == action and e.get("value") == request_id
                    for _, e in message.elements()
                ):
                    return message
            return None

        found: Message = self.wait(offered, what=f"{user}'s DM offering {answer} {request_id}")
        return found

    def answer_as_owner(self, user: str, request_id: str, answer: str, **kwargs: Any) -> Any:
        """The account's owner clicks Yes, No or "This wasn't me" in their DM."""
        message = self.owner_dm(user, request_id, answer)
        return self.driver.click(self.user_id(user), message, OWNER_ACTIONS[answer], **kwargs)

    def _new_modal(self, uid: str, mark: int) -> ModalView | None:
        try:
            view: ModalView = self.wait(
                lambda: (views := self.standin.views_for(uid))[mark:] and views[-1], 2.0
            )
            return view
        except AssertionError:
            return None  # refused: the person got an ephemeral instead

    def user_id(self, user: str) -> str:
        for person in self.people:
            if user in (person.id, person.handle, f"@{person.handle}"):
                return person.id
        if user.startswith(("U", "W")):
            return str(user)
        raise KeyError(f"nobody called {user!r} in the rig")

    def request_ids(self) -> set[str]:
        with self.store.session() as session:
            return set(session.scalars(_select_ids()))

    def request(self, request_id: str) -> ResetRequest:
        with self.store.session() as session:
            row = session.get(ResetRequest, request_id)
            if row is None:
                raise AssertionError(f"no request {request_id}")
            session.expunge(row)
            found: ResetRequest = row
            return found

    def wait_state(
        self, request_id: str, *states: RequestState, timeout: float = 10.0
    ) -> ResetRequest:
        wanted = set(states) or FINAL_STATES
        row: ResetRequest = self.wait(
            lambda: (r := self.request(request_id)).state in wanted and r,
            timeout,
            what=f"{request_id} in {', '.join(sorted(s.value for s in wanted))}",
        )
        # Slack work for this request (message update, thread, DM) runs after the state moves.
        self.settle()
        return row

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until no background job of the bot is queued or running."""
        if not self.worker.wait_idle(timeout):
            raise AssertionError(f"the bot's workers were still busy after {timeout:g}s")

    def sweep(self) -> None:
        self.worker.sweep_once()
        self.settle()

    def wait(
        self, condition: Callable[[], Any], timeout: float = 10.0, *, what: str = "a condition"
    ) -> Any:
        """Poll ``condition`` (store or Slack) until it is truthy; its value."""
        return wait_for(condition, timeout, what=what)

    def sandbox(self, name: str) -> Sandbox:
        return self.sandboxes[name]

    def where_seen(self, text: str) -> list[str]:
        """Every Slack call that carried ``text`` (raw or mrkdwn-escaped), as "method channel".

        Covers all the bot ever sent to the stand-in: messages, updates, ephemerals, thread
        replies, DMs, views, response_url posts and acks. For leak checks on secrets.
        """
        forms = {text, text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")}
        found = []
        for call in self.standin.calls:
            if _carries(call.params, forms):
                channel = call.params.get("channel") if isinstance(call.params, dict) else None
                found.append(f"{call.method} {channel or ''}".strip())
        return found

    def audit(self, request_id: str | None = None) -> list[tuple[str, str, str]]:
        """(actor, action, outcome) of every audit event, oldest first."""
        from sqlalchemy import select

        from bot.store.models import AuditEvent

        with self.store.session() as session:
            query = select(AuditEvent).order_by(AuditEvent.id)
            if request_id:
                query = query.where(AuditEvent.request_id == request_id)
            return [(e.actor, e.action, e.outcome or "") for e in session.scalars(query)]


def _select_ids() -> Any:
    from sqlalchemy import select

    return select(ResetRequest.id)


def _carries(node: Any, forms: set[str]) -> bool:
    if isinstance(node, str):
        return any(f in node for f in forms)
    if isinstance(node, dict):
        return any(_carries(v, forms) for v in node.values())
    if isinstance(node, list | tuple):
        return any(_carries(v, forms) for v in node)
    return False


def _has_block(view: ModalView, block_id: str) -> bool:
    return any(b.get("block_id") == block_id for b in view.current.get("blocks") or [])


def rig_iter(workdir: Path, **options: Any) -> Iterator[Rig]:
    with Rig(workdir, **options) as rig:
        yield rig


# For tests, the demo and benchmarks that run ``resetbot serve`` as a process.


def prepare_store(url: str, people: tuple[Person, ...] = PEOPLE) -> Store:
    """Migrated, with ``people`` granted their roles (as an admin would have)."""
    upgrade(url)
    store = Store(url)
    with store.session() as tx:
        for person in people:
            if person.role is not None:
                roles.grant(tx, ADMIN, person.id, person.role, person.provider)
    return store


def wait_for(
    condition: Callable[[], Any],
    timeout: float = 10.0,
    what: str = "a condition",
    *,
    poll: float = 0.01,
) -> Any:
    """Poll ``condition`` until it is truthy and return its value; AssertionError on time-out."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(poll)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (another process may still take it first)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_config(path: Path, settings: Mapping[str, Any]) -> Path:
    """Write ``settings`` as a resetbot TOML config (nested tables become ``[a.b]``)."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in settings.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {toml_value(value)}")
    while tables:
        name, table = tables.pop(0)
        lines.append(f"\n[{name}]")
        for key, value in table.items():
            if isinstance(value, Mapping):
                tables.append((f"{name}.{key}", value))
            else:
                lines.append(f"{key} = {toml_value(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path
