"""The demo's scripted session: seven short scenes that show what resetbot does and refuses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.rig import Rig
from bot.store.models import RequestState


@dataclass(frozen=True, slots=True)
class Played:
    """One scene after it ran: what happened, and whether it ended as the script expects."""

    title: str
    story: str
    request_id: str | None
    outcome: str
    expected: str

    @property
    def as_expected(self) -> bool:
        return self.outcome == self.expected


Scene = Callable[[Rig], Played]


def _final(rig: Rig, request_id: str) -> str:
    return rig.wait_state(request_id).state.value


def mighty_networks_approved(rig: Rig) -> Played:
    rid = rig.file("alice", 'community tom@example.com "locked out after the SSO change"')
    rig.approve("bob", rid, note="called Tom back on his desk phone")
    return Played("Mighty Networks reset, approved",
                  "@alice asks to reset tom@example.com on community; @bob approves with a note",
                  rid, _final(rig, rid), RequestState.SUCCEEDED.value)


def unleash_link_by_dm(rig: Rig) -> Played:
    rid = rig.file("alice", "flags tom@example.com new laptop, cannot sign in")
    rig.approve("erin", rid)
    return Played("Unleash reset: the link goes only to the requester's DM",
                  "@alice asks for an Unleash reset link for tom@example.com; @erin (approver "
                  "for flags only) approves; the link is in @alice's DM, not in the channel",
                  rid, _final(rig, rid), RequestState.SUCCEEDED.value)


def tyk_permission_granted(rig: Rig) -> Played:
    rid = rig.file("alice", "gateway allow tom@example.com new team lead")
    rig.approve("carol", rid)
    return Played("Tyk permission grant",
                  "@alice asks to let tom@example.com reset other users' Tyk passwords; "
                  "@carol approves", rid, _final(rig, rid), RequestState.SUCCEEDED.value)


def f5_sso_user_refused(rig: Rig) -> Played:
    before = rig.request_ids()
    rig.say("alice", "edge sam@example.com forgot password")
    rig.settle()
    filed = rig.request_ids() - before
    outcome = "nothing filed" if not filed else f"filed {', '.join(sorted(filed))}"
    return Played("F5 XC reset for an SSO user, refused",
                  "@alice asks to reset sam@example.com on edge; Sam signs in through SSO, so "
                  "the bot explains why a console reset cannot help and files nothing",
                  None, outcome, "nothing filed")


def self_approval_refused(rig: Rig) -> Played:
    rid = rig.file("bob", "community uma@example.com cannot log in after a phone change")
    rig.click("bob", rid, "approve")
    rig.settle()
    still = rig.request(rid).state
    rig.approve("carol", rid)
    outcome = _final(rig, rid)
    if still is not RequestState.PENDING:
        outcome = f"{still.value} after @bob's own click"
    return Played("Self-approval refused",
                  "@bob (an approver) files a request and clicks Approve on it himself: refused; "
                  "@carol approves it instead", rid, outcome, RequestState.SUCCEEDED.value)


def denied_with_reason(rig: Rig) -> Played:
    rid = rig.file("alice", "gateway reset uma@example.com she asked in the hallway")
    rig.deny("bob", rid, "Uma is on leave this week; her manager must ask")
    return Played("Denied, with a reason",
                  "@alice asks for a full Tyk reset of uma@example.com; @bob denies it and says "
                  "why", rid, _final(rig, rid), RequestState.DENIED.value)


def expired(rig: Rig) -> Played:
    rid = rig.file("alice", "flags uma@example.com forgot password")
    minutes = rig.settings.request_ttl_minutes + 1
    rig.clock.advance(minutes=minutes)
    rig.sweep()
    return Played("Expired",
                  f"@alice asks for an Unleash reset of uma@example.com; nobody decides, and "
                  f"{minutes} minutes later (the demo's clock jumps) the request expires",
                  rid, _final(rig, rid), RequestState.EXPIRED.value)


SCENES: tuple[Scene, ...] = (
    mighty_networks_approved,
    unleash_link_by_dm,
    tyk_permission_granted,
    f5_sso_user_refused,
    self_approval_refused,
    denied_with_reason,
    expired,
)


def play(rig: Rig, progress: Callable[[str], None] = lambda _: None) -> list[Played]:
    """Run every scene in order on ``rig``; what each one did."""
    played = []
    for number, scene in enumerate(SCENES, 1):
        progress(f"scene {number} of {len(SCENES)}")
        played.append(scene(rig))
    return played
