"""Hostile input, signed and sent to the real endpoint: commands and interaction payloads from
hypothesis. Never a 5xx, never an error logged, never a ping or a fake link in anything the bot
sends, and the store's invariants hold after every example."""

from __future__ import annotations

import json
import logging
import os
import re
import traceback
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.demo.rig import PEOPLE, Rig
from bot.demo.standin.workspace import Call
from bot.slack import blocks
from bot.store.models import (
    FINAL_STATES,
    Approval,
    AuditEvent,
    RequestState,
    ResetRequest,
)
from tests.reliability.reliability_support import count

EXAMPLES = int(os.environ.get("RESETBOT_HOSTILE_EXAMPLES", "250"))
# No shrinking: each example is a real HTTP exchange, so shrinking a failure can take minutes;
# the assertion message carries the whole request instead.
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
KNOWN_IDS = {p.id for p in PEOPLE}
DECIDERS = {"U0BOB", "U0CAROL", "U0ADA", "U0ERIN"}
ADMINS = {"U0ADA"}
# What the bot may legitimately send in mrkdwn: mentions of people Slack told it about,
# channel links and dates. Anything else between < and > came from somewhere it should not.
_ANGLE = re.compile(r"<([^<>]*)>")
_ALLOWED_ANGLE = re.compile(r"^(@[UW][A-Z0-9]+|#[CG][A-Z0-9]+|!date\^\d+\^[^|]*\|[^|]*)$")

HOSTILE = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0HOSTILE>",
    "<@W0FAKE|the boss>",
    "<@U0BOB>",
    "<http://evil.example|click here>",
    "<https://evil.example>",
    "<mailto:x@evil.example|y>",
    "<#C0FAKE|secret>",
    "<!subteam^S0FAKE>",
    "<!date^1|x>",
    "&lt;!channel&gt;",
    "&amp;",
    "*bold*",
    "_it_",
    "~s~",
    "`code`",
    "```",
    "> quote",
    "@channel",
    "@here",
    "\u202e",
    "\u200b",
    "\x00",
    "\x07",
    "\r\n",
    "\t",
    "ünïcödé",
    "日本語",
    "🔥",
    "\ud7ff",
    "'",
    '"',
    "\\",
    "%s",
    "{}",
    "x" * 400,
    "A" * 5000,
]
WORDS = [
    "community",
    "flags",
    "edge",
    "gateway",
    "reset",
    "allow",
    "revoke",
    "status",
    "cancel",
    "pending",
    "providers",
    "help",
    "roles",
    "grant",
    "list",
    "requester",
    "approver",
    "admin",
    "tom@example.com",
    "uma@example.com",
    "sam@example.com",
    "nobody@example.com",
    "<mailto:tom@example.com|tom@example.com>",
    "U0DAN",
    "<@U0DAN>",
    "42",
]


def word() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.sampled_from(WORDS),
        st.text(max_size=30),
        st.from_regex(r"R[A-Z0-9]{7}", fullmatch=True),
    )


def command_text() -> st.SearchStrategy[str]:
    free = st.lists(word(), max_size=8).map(" ".join)
    filing = st.tuples(
        st.sampled_from(["community", "flags", "edge", "gateway"]),
        st.lists(word(), min_size=1, max_size=6),
    ).map(lambda t: " ".join([t[0], *t[1]]))
    valid_ish = st.tuples(
        st.sampled_from(["community", "flags", "edge", "gateway"]),
        st.sampled_from(["tom@example.com", "uma@example.com"]),
        st.lists(word(), min_size=1, max_size=4),
    ).map(lambda t: f"{t[0]} {t[1]} reason {' '.join(t[2])}")
    return st.one_of(free, filing, valid_ish)


def user_id() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(sorted(KNOWN_IDS)), st.just("U0NOBODY"), st.text(max_size=20))


def json_junk() -> st.SearchStrategy[Any]:
    return st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(allow_nan=False),
            st.sampled_from(HOSTILE),
            st.text(max_size=20),
        ),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)
        ),
        max_leaves=8,
    )


# What the bot said: every mrkdwn text in every Slack call and ack


def mrkdwn_texts(node: Any, *, top: bool = True) -> Iterator[str]:
    """Texts Slack renders as mrkdwn: top-level ``text``, and ``mrkdwn`` text objects."""
    if isinstance(node, dict):
        if node.get("type") == "plain_text":
            return
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            yield node["text"]
        for key, value in node.items():
            if key == "text" and top and isinstance(value, str):
                yield value
            elif isinstance(value, dict | list):
                yield from mrkdwn_texts(value, top=key in ("body", "ack"))
            elif key == "blocks" and isinstance(value, str):  # slack_sdk sends blocks as JSON
                try:
                    yield from mrkdwn_texts(json.loads(value), top=False)
                except ValueError:
                    pass
    elif isinstance(node, list):
        for item in node:
            yield from mrkdwn_texts(item, top=False)


def injected_markup(texts: Iterator[str]) -> list[str]:
    bad = []
    for text in texts:
        for match in _ANGLE.finditer(text):
            inner = match.group(1)
            if not _ALLOWED_ANGLE.match(inner) or (
                inner.startswith("@") and inner[1:] not in KNOWN_IDS | {"U0ZED"}
            ):
                bad.append(match.group(0))
    return bad


def outgoing(calls: list[Call]) -> Iterator[str]:
    for call in calls:
        if call.method in ("users.info", "auth.test", "conversations.open"):
            continue
        yield from mrkdwn_texts(call.params)


# The store's invariants


def check_invariants(rig: Rig) -> None:
    with rig.store.session() as s:
        requests = list(s.scalars(select(ResetRequest)))
        approvals = list(s.scalars(select(Approval)))
        events = list(s.scalars(select(AuditEvent)))
        by_request: dict[str, set[str]] = {}
        for event in events:
            if event.request_id:
                by_request.setdefault(event.request_id, set()).add(event.action)
        approved_by: dict[str, set[str]] = {}
        for a in approvals:
            approved_by.setdefault(a.request_id, set()).add(a.approver_id)
        for r in requests:
            state = r.state
            who = approved_by.get(r.id, set())
            actions = by_request.get(r.id, set())
            assert "request.filed" in actions, (r.id, actions)
            assert r.requester_id not in who, f"{r.id}: the requester approved it"
            assert who <= DECIDERS, f"{r.id}: approved by {who}"
            assert state is not RequestState.DISPATCHING, f"{r.id} left dispatching"
            if state is RequestState.PENDING:
                assert r.finished_at is None and r.decided_by is None
                assert len(who) < r.approvals_required
            elif state in (
                RequestState.APPROVED,
                RequestState.SUCCEEDED,
                RequestState.FAILED,
                RequestState.UNKNOWN,
            ):
                assert len(who) >= r.approvals_required, f"{r.id} {state} without approvals"
                assert r.decided_by in who and r.decided_at is not None
                assert "request.approved" in actions
            else:
                assert len(who) < r.approvals_required, f"{r.id} {state} with a quorum"
            if state in FINAL_STATES:
                assert r.finished_at is not None, r.id
                assert f"request.{state.value}" in actions, (r.id, state, actions)
            if state is RequestState.DENIED:
                assert r.decided_by in DECIDERS and r.decision_note
            if state is RequestState.CANCELLED and r.outcome_kind != "not_posted":
                assert r.decided_by in ({r.requester_id} | ADMINS), (r.id, r.decided_by)


# The rig and its watchers


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Rig, _Errors]]:
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    rig = Rig(
        tmp_path_factory.mktemp("hostile"),
        settings_options={"max_pending_per_requester": 50, "max_pending_per_target": 5},
        provider_options={
            name: {"timeout_seconds": 2} for name in ("community", "flags", "edge", "gateway")
        },
    ).start()
    try:
        yield rig, errors
        states = Counter(rig.request(r).state.value for r in rig.request_ids())
        print(f"hostile input left requests in these states: {dict(states)}")
    finally:
        rig.stop()
        logging.getLogger().removeHandler(errors)


def after_example(
    rig: Rig, errors: _Errors, mark: int, response: httpx.Response, what: str
) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:200])
    rig.settle()
    problems = [
        f"{r.name}: {r.getMessage()}"
        + ("\n" + "".join(traceback.format_exception(*r.exc_info)[-4:]) if r.exc_info else "")
        for r in errors.records
    ]
    errors.records.clear()
    assert not problems, (what, problems)
    assert rig.standin.violations == [], (what, rig.standin.violations)
    said = list(outgoing(rig.standin.calls[mark:]))
    if response.content:
        try:
            said += list(mrkdwn_texts(response.json()))
        except ValueError:
            said.append(response.text)
    bad = injected_markup(iter(said))
    assert not bad, (what, bad)
    check_invariants(rig)
    count("hypothesis_examples")


# The properties


def pick_request(rig: Rig, data: st.DataObject) -> str:
    """One of the requests filed so far (other people's too), drawn independently of how many
    there are, so that hypothesis sees the same choices when it replays an example."""
    ids = sorted(rig.request_ids()) or ["R0000000"]
    return ids[data.draw(st.integers(0, 10_000), label="request") % len(ids)]


@PROPERTY
@given(data=st.data(), text=command_text(), user=st.one_of(st.just("U0ALICE"), user_id()))
def test_any_command_text(
    hostile: tuple[Rig, _Errors], data: st.DataObject, text: str, user: str
) -> None:
    """Whatever the command says and whoever says it: answered, escaped, store consistent."""
    rig, errors = hostile
    if data.draw(st.booleans(), label="about a real request"):
        rid = pick_request(rig, data)
        text = data.draw(st.sampled_from(["status {}", "cancel {}", "pending"])).format(rid)
    mark = rig.standin.mark()
    response = rig.driver.command(user, text)
    after_example(rig, errors, mark, response, f"{user}: /reset-password {text!r}")


def _action_payload(
    user: Any, action_id: str, value: Any, request: Any, trigger: Any
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": user,
        "team": {"id": "T0STANDIN"},
        "api_app_id": "A0RESETBOT",
        "token": "legacy-token",
        "trigger_id": trigger,
        "container": {"type": "message", "channel_id": "C0SUPPORT", "message_ts": "1.000001"},
        "channel": {"id": "C0SUPPORT"},
        "response_url": request,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "decide",
                "type": "button",
                "value": value,
                "action_ts": "1.1",
            }
        ],
    }


def _view_payload(user: Any, callback_id: str, metadata: Any, values: Any) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "user": user,
        "team": {"id": "T0STANDIN"},
        "api_app_id": "A0RESETBOT",
        "token": "legacy-token",
        "trigger_id": "1.2.hostile",
        "view": {
            "id": "V0HOSTILE",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": metadata,
            "state": {"values": values},
            "hash": "1.x",
        },
    }


@PROPERTY
@given(data=st.data())
def test_any_interaction_payload(hostile: tuple[Rig, _Errors], data: st.DataObject) -> None:
    """Clicks and submissions with wrong types, missing fields, forged users and other
    people's request ids: refused or handled, never a crash, never a double decision."""
    rig, errors = hostile
    real = pick_request(rig, data)
    request_id = st.one_of(st.just(real), st.sampled_from(HOSTILE), json_junk())
    user = st.one_of(
        st.fixed_dictionaries({"id": st.sampled_from(sorted(KNOWN_IDS))}),
        st.fixed_dictionaries({"id": json_junk()}),
        json_junk(),
    )
    field_value = st.one_of(
        st.fixed_dictionaries(
            {
                "type": st.just("plain_text_input"),
                "value": st.one_of(st.sampled_from(HOSTILE), json_junk()),
            }
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("static_select"),
                "selected_option": st.one_of(
                    st.fixed_dictionaries(
                        {
                            "value": st.one_of(
                                st.sampled_from(
                                    ["community", "flags", "edge", "gateway", "reset", "allow"]
                                ),
                                json_junk(),
                            )
                        }
                    ),
                    json_junk(),
                ),
            }
        ),
        json_junk(),
    )
    values = st.one_of(
        st.dictionaries(
            st.sampled_from(["provider", "action", "user", "reason", "note"]),
            st.dictionaries(st.text(max_size=8), field_value, max_size=2),
            max_size=5,
        ),
        json_junk(),
    )
    kind = data.draw(st.sampled_from(["decide", "click", "submit", "raw"]), label="kind")
    payload: Any
    if kind == "decide":  # well-formed, by a real person, on a real request, hostile words
        callback = data.draw(st.sampled_from([blocks.APPROVE_MODAL, blocks.DENY_MODAL]))
        field = "note" if callback == blocks.APPROVE_MODAL else "reason"
        words = data.draw(st.lists(word(), min_size=1, max_size=5).map(" ".join), label="words")
        payload = _view_payload(
            {"id": data.draw(st.sampled_from(sorted(KNOWN_IDS)), label="user")},
            callback,
            real,
            {field: {field: {"type": "plain_text_input", "value": words}}},
        )
        body = urlencode({"payload": json.dumps(payload)})
    elif kind == "click":
        payload = _action_payload(
            data.draw(user, label="user"),
            data.draw(
                st.sampled_from(
                    [blocks.APPROVE_ACTION, blocks.DENY_ACTION, blocks.PROVIDER_SELECT, "nope"]
                ),
                label="action_id",
            ),
            data.draw(request_id, label="value"),
            data.draw(
                st.one_of(st.just(rig.standin.new_response_url("C0SUPPORT", "U0DAN")), json_junk()),
                label="response_url",
            ),
            data.draw(
                st.one_of(st.just(rig.standin.new_trigger("U0BOB")), json_junk()),
                label="trigger_id",
            ),
        )
        body = urlencode({"payload": json.dumps(payload)})
    elif kind == "submit":
        payload = _view_payload(
            data.draw(user, label="user"),
            data.draw(
                st.sampled_from(
                    [blocks.REQUEST_MODAL, blocks.APPROVE_MODAL, blocks.DENY_MODAL, "nope"]
                ),
                label="callback_id",
            ),
            data.draw(
                st.one_of(
                    request_id,
                    st.just('{"channel": "C0SUPPORT"}'),
                    st.just('{"channel": "<!channel>"}'),
                ),
                label="metadata",
            ),
            data.draw(values, label="values"),
        )
        if data.draw(st.booleans(), label="drop a field"):
            key = data.draw(st.sampled_from(sorted(payload)), label="dropped")
            payload.pop(key)
        body = urlencode({"payload": json.dumps(payload)})
    else:
        body = data.draw(
            st.one_of(
                st.just("payload=%7Bnot%20json"),
                st.just("payload=%5B1%2C2%5D"),
                st.just("payload=null"),
                st.just("payload=42"),
                st.just(""),
                st.text(max_size=200).map(lambda t: urlencode({"payload": t})),
                json_junk().map(lambda j: urlencode({"payload": json.dumps(j)})),
                st.text(max_size=200),
            ),
            label="raw body",
        )
    mark = rig.standin.mark()
    response = rig.driver.post(body)
    if kind == "decide":  # Slack's own shape must never be refused as malformed
        assert response.status_code == 200, (body[:300], response.status_code)
    after_example(rig, errors, mark, response, f"{kind}: {body[:300]}")


def test_the_scanner_has_teeth() -> None:
    """The markup check flags what a careless bot would send, and passes what it should."""
    assert injected_markup(iter(["hi <!channel>", "<http://x|y>", "<@U0HOSTILE>"])) == [
        "<!channel>",
        "<http://x|y>",
        "<@U0HOSTILE>",
    ]
    assert (
        injected_markup(
            iter(
                [
                    "<@U0BOB> approved in <#C0SUPPORT> at "
                    "<!date^1700000000^{date_short_pretty}|2023-11-14>",
                    "&lt;!channel&gt;",
                ]
            )
        )
        == []
    )
