"""The domain over a real SQLite file, with in-process provider fakes and a recording notifier."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from pydantic import SecretStr

from bot.bootstrap import Core, build_core
from bot.config import Settings, UnleashInstance
from bot.demo.rig import ExactSettings
from bot.domain.confirmations import Confirmations
from bot.domain.dispatch import Dispatching
from bot.domain.ports import GroupCheckFailed, MessageRef, NotPosted, PersonLookup
from bot.domain.upkeep import Upkeep
from bot.domain.views import Draft, RequestView
from bot.domain.workflow import Workflow
from bot.store.db import Store
from bot.store.models import Base
from providers.base import (
    Account,
    ActionResult,
    ActionSpec,
    CredentialCheck,
    Provider,
)

ADMIN = "U0ADA"
ALICE = "U0ALICE"  # requester
BOB = "U0BOB"  # approver everywhere
CAROL = "U0CAROL"  # approver everywhere
ERIN = "U0ERIN"  # approver for "flags" only
DAN = "U0DAN"  # no role


class FakeProvider(Provider[UnleashInstance]):
    """Resolves any e-mail, records each action; a secret when ``secret`` is set."""

    kind: ClassVar[str] = "unleash"
    title: ClassVar[str] = "Fake"

    def __init__(self, name: str, settings: UnleashInstance, *, secret: str | None) -> None:
        super().__init__(name=name, settings=settings)
        self.secret = secret
        self.performed: list[tuple[str, str]] = []

    @property
    def actions(self) -> tuple[ActionSpec, ...]:
        return (ActionSpec("reset", "Reset"),)

    def resolve(self, user: str) -> Account:
        name = user.split("@")[0]
        if user == ROOT:
            return Account(name, user, "Root", privileged=True, privileged_why="root role")
        return Account(name, user, name.title())

    def perform(self, action: str, account: Account) -> ActionResult:
        self.performed.append((action, account.id))
        secret = SecretStr(self.secret) if self.secret else None
        return ActionResult(f"Reset {account.label}.", secret, "reset link" if secret else None)

    def describe(self, action: str, account: Account) -> str:
        return f"Reset the password of {account.label}"

    def check_credentials(self) -> CredentialCheck:
        return CredentialCheck(ok=True, detail="ok")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class RecordingNotifier:
    """The Notifier port, recording what it was asked to say; ``fail_post`` refuses to post."""

    fail_post: bool = False
    fail_dm: bool = False
    during_update: Callable[[], None] | None = None  # runs once, inside the next update
    said: list[tuple[str, str, str]] = field(default_factory=list)
    secrets: list[tuple[str, str]] = field(default_factory=list)

    def post_approval(self, view: RequestView) -> MessageRef:
        if self.fail_post:
            raise NotPosted("could not post", error="not_in_channel")
        self.said.append(("post", view.id, view.state.value))
        return MessageRef("C0APPROVE", f"ts-{view.id}")

    def update_approval(self, view: RequestView) -> bool:
        self.said.append(("update", view.id, view.state.value))
        if self.during_update is not None:
            hook, self.during_update = self.during_update, None
            hook()
        return True

    def approval_added(self, view: RequestView, approver: str) -> bool:
        self.said.append(("approved by", view.id, approver))
        return True

    def outcome(self, view: RequestView) -> bool:
        self.said.append(("outcome", view.id, view.state.value))
        return True

    def tell_requester(self, view: RequestView) -> bool:
        self.said.append(("tell", view.requester_id, view.state.value))
        return True

    def deliver_secret(
        self, view: RequestView, recipient: str, label: str, secret: SecretStr
    ) -> bool:
        self.secrets.append((recipient, secret.get_secret_value()))
        return True

    def ask_target(self, view: RequestView) -> bool:
        self.said.append(("ask", str(view.target_slack_id), view.id))
        return not self.fail_dm

    def target_answered(self, view: RequestView) -> bool:
        self.said.append(("answered", view.id, view.confirmation.value))
        return True

    def tell_people(self, view: RequestView, people: list[str]) -> bool:
        self.said += [("tell", person, view.state.value) for person in people]
        return True

    def tell_owner(self, view: RequestView) -> bool:
        self.said.append(("owner told", str(view.target_slack_id), view.state.value))
        return True

    def remind(self, view: RequestView, deciders: list[str], admins: list[str]) -> bool:
        self.said.append(("remind", view.id, ",".join(deciders) or "nobody"))
        return True

    def post_copy(self, view: RequestView, where: str, purpose: str) -> MessageRef | None:
        self.said.append(("copy", view.id, where))
        if self.fail_dm and purpose == "dm":
            return None
        return MessageRef(where, f"copy-{view.id}")

    def update_copy(self, view: RequestView, ref: MessageRef, purpose: str) -> bool:
        self.said.append(("update copy", view.id, view.state.value))
        return True

    def request_changed(self, view: RequestView) -> None:
        self.said.append(("changed", view.id, view.state.value))

    def alert(self, channel: str, view: RequestView, what: str) -> bool:
        self.said.append(("alert", channel, what))
        return True


@dataclass
class FakeTeams:
    """User groups by id: (handle, members); ``error`` makes every check fail."""

    groups: dict[str, tuple[str, set[str]]] = field(default_factory=dict)
    error: bool = False

    def _check(self) -> None:
        if self.error:
            raise GroupCheckFailed("ratelimited")

    def members(self, group_id: str) -> frozenset[str]:
        self._check()
        return frozenset(self.groups.get(group_id, ("", set()))[1])

    def find(self, handle: str) -> str | None:
        self._check()
        return next((g for g, (h, _) in self.groups.items() if h == handle.lstrip("@")), None)

    def handle(self, group_id: str) -> str | None:
        self._check()
        found = self.groups.get(group_id)
        return f"@{found[0]}" if found else None


@dataclass
class FakeDirectory:
    """The workspace's people by e-mail; ``error`` makes every look-up fail."""

    people: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def find_by_email(self, email: str) -> PersonLookup:
        if self.error:
            return PersonLookup(error=self.error)
        return PersonLookup(found=self.people.get(email))


@dataclass
class Domain:
    core: Core
    clock: Clock
    notifier: RecordingNotifier
    dispatching: Dispatching
    upkeep: Upkeep
    confirmations: Confirmations
    directory: FakeDirectory
    teams: FakeTeams
    workflow: Workflow
    providers: dict[str, FakeProvider]

    def draft(
        self, requester: str = ALICE, provider: str = "flags", user: str = "tom@x.com"
    ) -> Draft:
        return self.core.filing.validate(requester, provider, None, user, "locked out")

    def file(
        self, requester: str = ALICE, provider: str = "flags", user: str = "tom@x.com"
    ) -> RequestView:
        draft = self.draft(requester, provider, user)
        account = self.core.filing.resolve(draft)
        return self.core.filing.file(draft, account, origin_channel="C0SUPPORT")


PROVIDERS: dict[str, dict[str, Any]] = {
    "flags": {"approvals_channel": "C0APPROVE"},
    "edge": {},
    "pair": {"approvals_required": 2},
    "selfie": {"allow_self_approval": True},
    "links": {"approvals_channel": "C0APPROVE"},
    "strict": {"verify_target": "required"},
    "quiet": {"verify_target": "off"},
    "handover": {"deliver_secret_to": "requester"},
    "guarded": {"refuse_privileged": True},
    "escalating": {"escalate_after_minutes": 30, "escalation_channel": "C0ESCALATE"},
    "silent": {"remind_after_minutes": 0},
}
SECRETS = {"links", "handover"}
VIC = "U0VIC"  # the owner of vic@x.com in the workspace
ROOT = "root@x.com"  # an account every fake provider reports as an administrator
GRANTS = [
    (ALICE, "requester", None),
    (BOB, "approver", None),
    (CAROL, "approver", None),
    (ERIN, "approver", "flags"),
]


def domain_settings(database_url: str) -> Settings:
    return ExactSettings.model_validate(
        {
            "database_url": database_url,
            "admins": [ADMIN],
            "max_pending_per_requester": 3,
            "providers": {
                name: {"kind": "unleash", "base_url": "https://u.test", "token": "t", **extra}
                for name, extra in PROVIDERS.items()
            },
        }
    )


def make_template(path: Path) -> Path:
    """A store with its tables and the people's grants, to copy for each test."""
    from bot.domain import roles
    from bot.store.models import Role

    store = Store(f"sqlite:///{path}")
    Base.metadata.create_all(store.engine)
    with store.session() as tx:
        for user, role, scope in GRANTS:
            roles.grant(tx, ADMIN, user, Role(role), scope)
    store.dispose()
    return path


def make_domain(template: Path, tmp_path: Path) -> Iterator[Domain]:
    path = tmp_path / "domain.db"
    shutil.copyfile(template, path)
    settings = domain_settings(f"sqlite:///{path}")
    fakes = {
        name: FakeProvider(
            name,
            settings.providers[name],  # type: ignore[arg-type]
            secret="https://u.test/reset/SECRET-TOKEN" if name in SECRETS else None,
        )
        for name in PROVIDERS
    }
    clock = Clock()
    teams = FakeTeams({"S0MANAGERS": ("managers", {DAN})})
    core = build_core(settings, providers=fakes, clock=clock, teams=teams)
    notifier = RecordingNotifier()
    dispatching = Dispatching(core.ctx, owner="test-owner")
    upkeep = Upkeep(core.ctx)
    confirmations = Confirmations(core.ctx)
    directory = FakeDirectory({"vic@x.com": VIC, ROOT: "U0ROOT"})
    workflow = Workflow(
        filing=core.filing,
        decisions=core.decisions,
        dispatching=dispatching,
        upkeep=upkeep,
        confirmations=confirmations,
        notifier=notifier,
        directory=directory,
    )
    yield Domain(
        core,
        clock,
        notifier,
        dispatching,
        upkeep,
        confirmations,
        directory,
        teams,
        workflow,
        fakes,
    )
    core.close()
