"""Command → approval message → Approve → approval modal → provider called once → outcome."""

from __future__ import annotations

from bot.rig import Rig
from bot.store.models import RequestState


def test_mighty_networks_reset_by_command(rig: Rig) -> None:
    rid = rig.file("alice", 'community tom@example.com "locked out after SSO change"')
    message = rig.approval_message(rid)
    assert "Tom Taylor" in message.all_text()
    rig.approve("bob", rid, note="verified by phone")
    req = rig.wait_state(rid)
    assert req.state is RequestState.SUCCEEDED, req.outcome_message
    print(rig.standin.transcript())


def test_unleash_link_only_in_dm_by_form(rig: Rig) -> None:
    rig.file_by_form("alice", "flags", "tom@example.com", "new laptop")
    rid = rig.wait(lambda: next(iter(rig.request_ids()), None), what="a request")
    rig.wait(lambda: rig.request(rid).approval_ts)
    rig.approve("bob", rid)
    req = rig.wait_state(rid)
    assert req.state is RequestState.SUCCEEDED, req.outcome_message
    print(rig.standin.transcript())
