"""Who may do what, from one table, checked against the running bot over signed HTTP.

Every decision is re-checked on the server: besides the buttons, a forged modal submission
(no button was ever shown to that person) is tried for every refused approve and deny.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest

from bot.demo.rig import PEOPLE, Person, Rig
from bot.domain import roles
from bot.slack import blocks
from bot.store import roles as role_store
from bot.store.models import RequestState, Role
from tests.reliability.reliability_support import count

# The request under test is always Alice's, for the `community` instance.
ACTORS: dict[str, Person] = {
    "none": Person("U0DAN", "dan", "Dan Dunn"),
    "requester (another)": Person("U0RITA", "rita", "Rita Reyes", Role.REQUESTER),
    "approver for this provider": Person("U0HANK", "hank", "Hank Hill", Role.APPROVER, "community"),
    "approver for another provider": Person("U0ERIN", "erin", "Erin Ellis", Role.APPROVER, "flags"),
    "approver (all providers)": Person("U0BOB", "bob", "Bob Baker", Role.APPROVER),
    "admin": Person("U0ADA", "ada", "Ada Admin"),  # through config
    "the requester themself": Person("U0ALICE", "alice", "Alice Archer", Role.REQUESTER),
}
DECIDERS = {"approver for this provider", "approver (all providers)", "admin"}
# THE table: action → the roles that may do it. Everyone else is refused.
ALLOWED: dict[str, set[str]] = {
    "file": {"requester (another)", "the requester themself", *DECIDERS},
    "approve": DECIDERS,
    "deny": DECIDERS,
    "cancel": {"admin", "the requester themself"},
    "status": {*DECIDERS, "the requester themself"},
    "pending": DECIDERS,  # sees the request among those they can decide
    "roles grant": {"admin"},
    "roles revoke": {"admin"},
    "roles list": {"admin"},
}
CASES = [(action, actor) for action in ALLOWED for actor in ACTORS]
EXTRA = tuple(p for p in ACTORS.values() if p.id not in {q.id for q in PEOPLE})


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    rig = Rig(
        tmp_path_factory.mktemp("authz"),
        people=PEOPLE + EXTRA,
        settings_options={"max_pending_per_requester": 1000, "max_pending_per_target": 100},
    ).start()
    yield rig
    rig.stop()
    assert rig.standin.violations == [], rig.standin.violations


@dataclass
class Case:
    rig: Rig
    actor: Person
    request_id: str
    said: str = ""

    def say(self, text: str) -> str:
        response = self.rig.say(self.actor.id, text)
        assert response.status_code == 200, response.status_code
        # The ack is a placeholder; what the person is left reading replaces it.
        self.said = self.rig.standin.ephemerals(user=self.actor.id)[-1].all_text()
        return self.said

    def state(self) -> RequestState:
        return self.rig.request(self.request_id).state

    def forged_submission(self, callback_id: str, values: dict[str, object]) -> None:
        """A modal submission the person was never shown, straight to the endpoint."""
        payload = {
            "type": "view_submission",
            "team": {"id": "T0STANDIN"},
            "user": {"id": self.actor.id, "name": self.actor.handle, "team_id": "T0STANDIN"},
            "api_app_id": "A0RESETBOT",
            "token": "legacy-token",
            "trigger_id": "1.2.forged",
            "view": {
                "id": "V0FORGED",
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": self.request_id,
                "state": {"values": values},
                "hash": "1.forged",
            },
        }
        response = self.rig.driver.post(urlencode({"payload": json.dumps(payload)}))
        assert response.status_code == 200
        self.rig.settle()


def _file(case: Case) -> bool:
    before = case.rig.request_ids()
    text = case.say("community uma@example.com locked out again")
    if "requester role" in text:
        return False
    new = case.rig.wait(lambda: case.rig.request_ids() - before, what="the filed request")
    return bool(new)


def _decide(case: Case, button: str) -> bool:
    rig, uid = case.rig, case.actor.id
    views, told = len(rig.standin.views_for(uid)), len(rig.standin.ephemerals(user=uid))
    rig.click(uid, case.request_id, button)
    opened = rig.wait(
        lambda: (
            "modal"
            if len(rig.standin.views_for(uid)) > views
            else "refused"
            if len(rig.standin.ephemerals(user=uid)) > told
            else None
        ),
        what=f"{button} to open a modal or be refused",
    )
    if opened == "modal":
        modal = rig.standin.views_for(uid)[-1]
        values = {} if button == "approve" else {"reason": "could not verify the caller"}
        rig.driver.submit_view(uid, modal, values)
    else:
        case.said = rig.standin.ephemerals(user=uid)[-1].all_text()
    rig.settle()
    if case.state() is RequestState.PENDING:
        # Refused at the button; the server must refuse the forged submission as well.
        if button == "approve":
            case.forged_submission(blocks.APPROVE_MODAL, {})
        else:
            case.forged_submission(
                blocks.DENY_MODAL,
                {
                    "reason": {
                        "reason": {
                            "type": "plain_text_input",
                            "value": "could not verify the caller",
                        }
                    }
                },
            )
        assert case.state() is RequestState.PENDING, "a forged submission decided"
        return False
    return True


def _cancel(case: Case) -> bool:
    case.say(f"cancel {case.request_id}")
    return case.state() is RequestState.CANCELLED


def _status(case: Case) -> bool:
    text = case.say(f"status {case.request_id}")
    return case.request_id in text and "you can see" not in text


def _pending(case: Case) -> bool:
    return case.request_id in case.say("pending")


def _roles(case: Case, verb: str) -> bool:
    store = case.rig.store
    with store.session() as s:  # grant starts from "not held", revoke from "held"
        if verb == "grant":
            roles.revoke(s, "U0ADA", "U0ZED", Role.REQUESTER, None)
        else:
            roles.grant(s, "U0ADA", "U0ZED", Role.REQUESTER, None)
    text = case.say(f"roles {verb} <@U0ZED> requester" if verb != "list" else "roles list")
    with store.session() as s:
        held = Role.REQUESTER in role_store.held(s, "U0ZED", "community")
    return {"grant": held, "revoke": not held, "list": "U0ZED" in text}[verb]


PERFORM: dict[str, Callable[[Case], bool]] = {
    "file": _file,
    "approve": lambda c: _decide(c, "approve"),
    "deny": lambda c: _decide(c, "deny"),
    "cancel": _cancel,
    "status": _status,
    "pending": _pending,
    "roles grant": lambda c: _roles(c, "grant"),
    "roles revoke": lambda c: _roles(c, "revoke"),
    "roles list": lambda c: _roles(c, "list"),
}


@pytest.mark.parametrize(("action", "actor"), CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_authorization_matrix(shared: Rig, action: str, actor: str) -> None:
    """The bot allows exactly what the table allows, and says so when it refuses."""
    rid = shared.file("alice", "community tom@example.com locked out")
    case = Case(shared, ACTORS[actor], rid)
    allowed = PERFORM[action](case)
    count("authorization_cases")
    assert allowed == (actor in ALLOWED[action]), (
        f"{actor} {'could' if allowed else 'could not'} {action}"
    )
    if not allowed:
        assert shared.request(rid).state is RequestState.PENDING
        if case.said and action != "pending":  # refused by command: told why, not ignored
            assert case.said.startswith((":warning:", ":no_entry:")) or "no request" in case.said, (
                case.said
            )
    if shared.request(rid).state is RequestState.PENDING:
        shared.web.core.decisions.cancel(rid, "U0ADA")  # keep the approvers' queue short


@pytest.mark.parametrize("filer", ["bob", "ada"])
def test_an_approver_or_admin_cannot_approve_their_own_request(shared: Rig, filer: str) -> None:
    """The requester-themself row for people who could otherwise decide: refused, forged too."""
    rid = shared.file(filer, "community tom@example.com locked out")
    case = Case(shared, next(p for p in ACTORS.values() if p.handle == filer), rid)
    assert _decide(case, "approve") is False
    assert "own request" in case.said, case.said
    count("authorization_cases")
    shared.web.core.decisions.cancel(rid, "U0ADA")
