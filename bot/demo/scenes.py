"""The demo's scripted session: short scenes that show what resetbot does and refuses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.demo.rig import SECURITY, Rig
from bot.store.models import RequestState


@dataclass(frozen=True, slots=True)
class Ran:
    """What a scene did: the story in one line, its request, how it ended, how it should have."""

    story: str
    request_id: str | None
    outcome: str
    expected: str


@dataclass(frozen=True, slots=True)
class Played:
    """One scene after it ran: its title (the scene's docstring) and what it did."""

    title: str
    ran: Ran

    @property
    def story(self) -> str:
        return self.ran.story

    @property
    def request_id(self) -> str | None:
        return self.ran.request_id

    @property
    def outcome(self) -> str:
        return self.ran.outcome

    @property
    def expected(self) -> str:
        return self.ran.expected

    @property
    def as_expected(self) -> bool:
        return self.outcome == self.expected


Scene = Callable[[Rig], Ran]


def _final(rig: Rig, request_id: str) -> str:
    return rig.wait_state(request_id).state.value


def mighty_networks_approved(rig: Rig) -> Ran:
    """Mighty Networks reset, approved"""
    rid = rig.file("alice", 'community tom@example.com "locked out after the SSO change"')
    rig.approve("bob", rid, note="called Tom back on his desk phone")
    return Ran(
        "@alice asks to reset tom@example.com on community; @bob approves with a note",
        rid,
        _final(rig, rid),
        RequestState.SUCCEEDED.value,
    )


def unleash_link_by_dm(rig: Rig) -> Ran:
    """Unleash reset: the link goes only to the requester's DM"""
    rid = rig.file("alice", "flags tom@example.com new laptop, cannot sign in")
    rig.approve("erin", rid)
    return Ran(
        "@alice asks for an Unleash reset link for tom@example.com; @erin (approver "
        "for flags only) approves; the link is in @alice's DM, not in the channel",
        rid,
        _final(rig, rid),
        RequestState.SUCCEEDED.value,
    )


def tyk_permission_granted(rig: Rig) -> Ran:
    """Tyk permission grant"""
    rid = rig.file("alice", "gateway allow tom@example.com new team lead")
    rig.approve("carol", rid)
    return Ran(
        "@alice asks to let tom@example.com reset other users' Tyk passwords; @carol approves",
        rid,
        _final(rig, rid),
        RequestState.SUCCEEDED.value,
    )


def f5_sso_user_refused(rig: Rig) -> Ran:
    """F5 XC reset for an SSO user, refused"""
    before = rig.request_ids()
    rig.say("alice", "edge sam@example.com forgot password")
    rig.settle()
    filed = rig.request_ids() - before
    outcome = "nothing filed" if not filed else f"filed {', '.join(sorted(filed))}"
    return Ran(
        "@alice asks to reset sam@example.com on edge; Sam signs in through SSO, so "
        "the bot explains why a console reset cannot help and files nothing",
        None,
        outcome,
        "nothing filed",
    )


def self_approval_refused(rig: Rig) -> Ran:
    """Self-approval refused"""
    rid = rig.file("bob", "community uma@example.com cannot log in after a phone change")
    bob = rig.user_id("bob")
    seen = len(rig.standin.ephemerals(user=bob))
    rig.click("bob", rid, "approve")
    rig.settle()
    refused = any(
        "your own request" in m.all_text() for m in rig.standin.ephemerals(user=bob)[seen:]
    )
    still = rig.request(rid).state
    rig.approve("carol", rid)
    outcome = f"refused, then approved by @carol: {_final(rig, rid)}"
    if not refused or still is not RequestState.PENDING:
        outcome = f"@bob's own click was not refused ({still.value})"
    return Ran(
        "@bob (an approver) files a request and clicks Approve on it himself: refused; "
        "@carol approves it instead",
        rid,
        outcome,
        f"refused, then approved by @carol: {RequestState.SUCCEEDED.value}",
    )


def denied_with_reason(rig: Rig) -> Ran:
    """Denied, with a reason"""
    rid = rig.file("alice", "gateway reset uma@example.com she asked in the hallway")
    rig.deny("bob", rid, "Uma is on leave this week; her manager must ask")
    return Ran(
        "@alice asks for a full Tyk reset of uma@example.com; @bob denies it and says why",
        rid,
        _final(rig, rid),
        RequestState.DENIED.value,
    )


def expired(rig: Rig) -> Ran:
    """Expired"""
    rid = rig.file("alice", "flags uma@example.com forgot password")
    minutes = rig.settings.request_ttl_minutes + 1
    rig.clock.advance(minutes=minutes)
    rig.sweep()
    return Ran(
        f"@alice asks for an Unleash reset of uma@example.com; nobody decides, and "
        f"{minutes} minutes later (the demo's clock jumps) the request expires",
        rid,
        _final(rig, rid),
        RequestState.EXPIRED.value,
    )


def owner_confirms(rig: Rig) -> Ran:
    """The account's owner confirms, then receives the link"""
    rid = rig.file("alice", "flags vic@example.com locked out after a password manager mix-up")
    rig.approve("bob", rid)
    rig.settle()
    waited = rig.request(rid).state is RequestState.PENDING
    rig.answer_as_owner("vic", rid, "confirm")
    outcome = _final(rig, rid)
    if not waited:
        outcome = "dispatched before @vic confirmed"
    return Ran(
        "@alice asks for an Unleash reset link for vic@example.com; @vic is in Slack, so the "
        "bot asks him first; @bob approves; nothing happens until @vic says yes; the link goes "
        "to @vic's DM, not @alice's, and @vic is told what was done",
        rid,
        outcome,
        RequestState.SUCCEEDED.value,
    )


def owner_did_not_ask(rig: Rig) -> Ran:
    """The account's owner did not ask: rejected, security alerted"""
    rid = rig.file("alice", "community vic@example.com caller says he is Vic, locked out")
    rig.answer_as_owner("vic", rid, "reject")
    outcome = _final(rig, rid)
    rig.settle()
    if not rig.standin.messages(SECURITY):
        outcome = "no alert in #security"
    return Ran(
        'a caller posing as Vic gets @alice to file a reset; @vic answers "No, I did not '
        'ask": the request ends, nothing is done, and #security is alerted',
        rid,
        outcome,
        RequestState.REJECTED_BY_TARGET.value,
    )


def group_member_after_reminder(rig: Rig) -> Ran:
    """A reminder, then a member of @managers approves"""
    rig.say("ada", "roles grant <!subteam^S0MANAGERS|@managers> approver")
    rid = rig.file("alice", "community uma@example.com locked out after a trip")
    rig.clock.advance(minutes=16)
    rig.sweep()
    req = rig.request(rid)
    reminded = any(
        "still waiting" in m.all_text()
        for m in rig.standin.thread(str(req.approval_channel), str(req.approval_ts))
    )
    rig.approve("dan", rid)
    outcome = _final(rig, rid) if reminded else "no reminder"
    return Ran(
        "@ada grants the user group @managers the approver role; nobody decides @alice's "
        "request for 15 minutes (the demo's clock jumps), so the bot reminds who can; @dan, a "
        "member of @managers, approves",
        rid,
        outcome,
        RequestState.SUCCEEDED.value,
    )


SCENES: tuple[Scene, ...] = (
    mighty_networks_approved,
    unleash_link_by_dm,
    tyk_permission_granted,
    f5_sso_user_refused,
    self_approval_refused,
    denied_with_reason,
    expired,
    owner_confirms,
    owner_did_not_ask,
    group_member_after_reminder,
)


def title(scene: Scene) -> str:
    return (scene.__doc__ or scene.__name__).strip()


def play(rig: Rig, progress: Callable[[str], None] = lambda _: None) -> list[Played]:
    """Run every scene in order on ``rig``; what each one did.

    A scene that gets stuck (the bot never answered as the rig expected) is reported as such,
    and the rest still run: the transcript then shows what happened.
    """
    played = []
    for number, scene in enumerate(SCENES, 1):
        progress(f"scene {number} of {len(SCENES)}: {title(scene)}")
        try:
            ran = scene(rig)
        except AssertionError as exc:
            ran = Ran("", None, f"stuck: {exc}", "finished")
        played.append(Played(title(scene), ran))
    return played
