"""The invariant checker: reads the store, the audit log, the Slack stand-in's record, the provider
sandboxes' record and the servers' logs after a run, and lists every violation."""

from __future__ import annotations

import html
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.demo.sandboxes import Sandbox
from bot.demo.standin import Message, SlackStandIn
from bot.domain.ids import ALPHABET, new_request_id
from bot.domain.lifecycle import TRANSITIONS, AuditAction
from bot.store.db import Store
from bot.store.models import FINAL_STATES, AuditEvent, Confirmation, RequestState, ResetRequest

S = RequestState
# The state each state-changing audit action records reaching.
REACHES = {
    AuditAction.APPROVED.value: S.APPROVED,
    AuditAction.DENIED.value: S.DENIED,
    AuditAction.CANCELLED.value: S.CANCELLED,
    AuditAction.EXPIRED.value: S.EXPIRED,
    AuditAction.DISPATCHING.value: S.DISPATCHING,
    AuditAction.SUCCEEDED.value: S.SUCCEEDED,
    AuditAction.FAILED.value: S.FAILED,
    AuditAction.UNKNOWN.value: S.UNKNOWN,
    AuditAction.REJECTED_BY_TARGET.value: S.REJECTED_BY_TARGET,
}
LEGAL = {(a, b) for (a, _), b in TRANSITIONS.items()}
_SECRET = re.compile(r"```(.+?)```", re.S)
_REQUEST_ID = re.compile(rf"\bR[{ALPHABET}]{{{len(new_request_id()) - 1}}}\b")


@dataclass
class Report:
    violations: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.violations.append(what)

    def as_dict(self) -> dict[str, Any]:
        return {"violations": self.violations, "figures": self.figures, "notes": self.notes}

    def summary(self) -> str:
        lines = [f"  {k}: {json.dumps(v)}" for k, v in self.figures.items()]
        lines.append(f"  violations: {len(self.violations)}")
        lines += [f"    {v}" for v in self.violations[:30]]
        lines += [f"  note: {n}" for n in self.notes[:10]]
        return "\n".join(lines)


def check(
    store: Store,
    standin: SlackStandIn,
    sandboxes: Mapping[str, Sandbox],
    logs: Iterable[Path] = (),
) -> Report:
    report = Report()
    with store.reading() as tx:
        requests = {r.id: r for r in tx.scalars(select(ResetRequest))}
        for r in requests.values():
            tx.expunge(r)
        events = list(tx.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        for e in events:
            tx.expunge(e)
    by_request: dict[str, list[AuditEvent]] = defaultdict(list)
    for event in events:
        if event.request_id:
            by_request[event.request_id].append(event)
    states = Counter(r.state.value for r in requests.values())
    report.figures["states"] = dict(sorted(states.items()))
    report.figures["audit_events"] = len(events)

    calls = standin.calls
    dm_of = {}
    for uid in {r.requester_id for r in requests.values()} | {
        r.target_slack_id for r in requests.values() if r.target_slack_id
    }:
        dm_of[uid] = standin.dm_channel(uid)
    told: dict[str, str] = defaultdict(str)  # person -> everything the bot said to them alone
    for call in calls:
        channel = call.params.get("channel") if isinstance(call.params, dict) else None
        text = json.dumps(call.params)
        for uid, dm in dm_of.items():
            if channel == dm:
                told[uid] += text
        if call.method == "response_url" or call.method == "chat.postEphemeral":
            user = call.params.get("user") or call.params.get("_user") or ""
            told[str(user)] += text
            told["*answers*"] += text

    for rid, r in requests.items():
        _check_path(report, r, by_request[rid])
        message = (
            standin.message(r.approval_channel, r.approval_ts)
            if r.approval_ts and r.approval_channel
            else None
        )
        if r.state is S.PENDING:
            if message is None:
                report.fail(f"{rid} is pending without its approval message")
            if r.confirmation == Confirmation.AWAITING.value and not r.target_slack_id:
                report.fail(f"{rid} awaits an owner who is not in Slack")
        elif r.state not in FINAL_STATES:
            report.fail(f"{rid} was left {r.state.value}")
        else:
            if r.approval_ts and message is None:
                report.fail(f"{rid}: its approval message is gone")
            if message is not None:
                _check_message_shows(report, r, message)
            if r.outcome_kind != "not_posted" and rid not in told[r.requester_id]:
                if rid not in told["*answers*"]:
                    report.fail(f"{rid} ({r.state.value}) was never told to its requester")

    _check_provider_actions(report, requests, by_request, sandboxes)
    _check_secrets(report, requests, events, standin, logs)
    _check_acknowledged(report, requests, calls)
    return report


def _check_path(report: Report, r: ResetRequest, events: list[AuditEvent]) -> None:
    """Every state change has its audit row, in an order the transition table allows."""
    actions = [e.action for e in events]
    if not actions or actions[0] != AuditAction.FILED.value:
        report.fail(f"{r.id}: no request.filed audit row first ({actions[:3]})")
        return
    state = S.PENDING
    for action in actions[1:]:
        reached = REACHES.get(action)
        if reached is None:
            continue
        if (state, reached) not in LEGAL:
            report.fail(f"{r.id}: audited {state.value} -> {reached.value}, not a transition")
        state = reached
    if state is not r.state:
        report.fail(f"{r.id}: the audit log ends in {state.value}, the request is {r.state.value}")


def _check_message_shows(report: Report, r: ResetRequest, message: Message) -> None:
    if r.message_stale:
        report.fail(f"{r.id}: approval message still marked stale")
    if message.buttons():
        report.fail(f"{r.id} is {r.state.value} but its message still shows buttons")


def _check_provider_actions(
    report: Report,
    requests: Mapping[str, ResetRequest],
    by_request: Mapping[str, list[AuditEvent]],
    sandboxes: Mapping[str, Sandbox],
) -> None:
    """Provider actions == dispatches: per account, at least one reset for each succeeded
    request, at most one more for each whose outcome is unknown, never two for one request."""
    expected: dict[tuple[str, str], list[ResetRequest]] = defaultdict(list)
    for r in requests.values():
        dispatched = sum(
            e.action == AuditAction.DISPATCHING.value for e in by_request.get(r.id, [])
        )
        if dispatched > 1:
            report.fail(f"{r.id} was dispatched {dispatched} times")
        if dispatched:
            expected[(r.provider, r.target_id)].append(r)
    targets: dict[str, list[str]] = defaultdict(list)
    for provider, target in expected:
        targets[provider].append(target)
    acted: Counter[tuple[str, str]] = Counter()
    total = 0
    for name, sandbox in sandboxes.items():
        for call in sandbox.action_calls():
            if call.status is not None and not 200 <= call.status < 300:
                continue  # refused (an injected error answers instead of the API)
            total += 1
            text = f"{call.path} {json.dumps(call.json)}"
            whose = [t for t in targets[name] if _mentions(text, t)]
            if len(whose) != 1:
                report.fail(f"{name}: a reset at {call.path} no one dispatched request explains")
                continue
            acted[(name, whose[0])] += 1
    for key, rs in expected.items():
        sure = sum(r.state is S.SUCCEEDED for r in rs)
        maybe = sum(r.state is S.UNKNOWN for r in rs)
        n = acted.get(key, 0)
        if not sure <= n <= sure + maybe:
            states = Counter(r.state.value for r in rs)
            report.fail(f"{key[0]} {key[1]}: {n} resets for {dict(states)}")
    report.figures["provider_actions"] = total


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w.@-]){re.escape(word)}(?![\w.@-])", text) is not None


def _check_secrets(
    report: Report,
    requests: Mapping[str, ResetRequest],
    events: list[AuditEvent],
    standin: SlackStandIn,
    logs: Iterable[Path],
) -> None:
    """Each secret sent went out once, to the DM of the request's secret recipient, and
    appears nowhere else: no other Slack call, no row of the store, no log line."""
    sent: dict[str, str] = {}  # secret -> request id
    for r in requests.values():
        if not r.secret_recipient:
            continue
        dm = standin.dm_channel(r.secret_recipient)
        found = [
            m
            for m in standin.messages(dm)
            if r.id in m.all_text() and _SECRET.search(json.dumps(m.blocks))
        ]
        delivered = any(e.action == "secret.delivered" for e in events if e.request_id == r.id)
        if delivered and len(found) != 1:
            report.fail(f"{r.id}: {len(found)} secret DMs to {r.secret_recipient}")
        for m in found:
            for secret in _SECRET.findall(json.dumps(m.blocks)):
                sent[html.unescape(json.loads(f'"{secret}"'))] = r.id
    report.figures["secrets_delivered"] = len(sent)
    if not sent:
        return
    everywhere = [json.dumps(c.params) for c in standin.calls]
    for secret, rid in sent.items():
        forms = {secret, secret.replace("&", "&amp;"), json.dumps(secret)[1:-1]}
        carrying = [t for t in everywhere if any(f in t for f in forms)]
        if len(carrying) != 1:
            report.fail(f"{rid}: its secret is in {len(carrying)} Slack calls")
    stored = "\n".join(
        json.dumps([e.action, e.outcome, e.target, e.details], default=str) for e in events
    )
    stored += "\n".join(
        json.dumps([r.outcome_message, r.reason, r.target_input], default=str)
        for r in requests.values()
    )
    logged = "\n".join(p.read_text(errors="replace") for p in logs if p.exists())
    for secret, rid in sent.items():
        if secret in stored:
            report.fail(f"{rid}: its secret is in the store")
        if secret in logged:
            report.fail(f"{rid}: its secret is in a server log")


def _check_acknowledged(
    report: Report, requests: Mapping[str, ResetRequest], calls: list[Any]
) -> None:
    """Whatever the bot told a person about a request names one the store holds."""
    told = 0
    for call in calls:
        if not isinstance(call.params, dict):
            continue
        text = json.dumps(call.params)
        for match in set(_REQUEST_ID.findall(text)):
            told += 1
            if match not in requests:
                report.fail(f"{call.method} told someone of {match}, which the store lacks")
    report.figures["request_mentions_checked"] = told
