"""The App Home over signed HTTP: my open requests with Cancel, what waits for my decision with
working Approve / Deny, providers and grants for admins; refreshed when a request changes."""

from __future__ import annotations

from typing import Any

from bot.demo.rig import Rig
from bot.demo.standin import Message
from bot.store.models import RequestState
from tests.e2e.e2e_support import succeeded


def home(rig: Rig, user: str) -> dict[str, Any]:
    uid = rig.user_id(user)
    rig.driver.home_opened(uid)
    found: dict[str, Any] = rig.wait(lambda: rig.standin.homes.get(uid), what=f"{user}'s Home")
    return found


def text(view: dict[str, Any]) -> str:
    return str(view["blocks"])


def as_message(rig: Rig, user: str) -> Message:
    """The Home tab's blocks, to click like a message's (the driver finds elements there)."""
    return Message(channel="home", ts="0", user=rig.user_id(user), blocks=home(rig, user)["blocks"])


def test_each_person_sees_their_sections(rig: Rig) -> None:
    rid = rig.file("alice", "community tom@example.com locked out")
    alice, bob, ada = home(rig, "alice"), home(rig, "bob"), home(rig, "ada")
    assert rid in text(alice) and "cancel_request" in text(alice)
    assert "Nothing is waiting for you" in text(alice)  # never her own request
    assert rid in text(bob) and "approve_request" in text(bob)
    assert "Role grants" not in text(bob) and "Providers" not in text(bob)
    assert "Role grants" in text(ada) and "Providers" in text(ada)


def test_the_approve_button_on_the_home_tab_works_and_the_tab_follows(rig: Rig) -> None:
    rid = rig.file("alice", "edge tom@example.com forgot password")
    home(rig, "alice")
    uid = rig.user_id("bob")
    mark = len(rig.standin.views_for(uid))
    rig.driver.click(uid, as_message(rig, "bob"), "approve_request")
    modal = rig.wait(lambda: rig.standin.views_for(uid)[mark:], what="the approval modal")[-1]
    rig.driver.submit_view(uid, modal, {})
    succeeded(rig, rid)
    rig.settle()
    rig.wait(lambda: rid not in text(rig.standin.homes[rig.user_id("alice")]), what="a refresh")


def test_cancel_from_the_home_tab(rig: Rig) -> None:
    rid = rig.file("alice", "flags tom@example.com new laptop")
    rig.driver.click(rig.user_id("alice"), as_message(rig, "alice"), "cancel_request")
    rig.wait_state(rid, RequestState.CANCELLED)


def test_url_verification_is_answered(rig: Rig) -> None:
    body = '{"type": "url_verification", "challenge": "c-123", "token": "t"}'
    headers = rig.driver.signed_headers(body)
    headers["Content-Type"] = "application/json"
    response = rig.driver.http.post(rig.events_url, content=body.encode(), headers=headers)
    assert response.status_code == 200 and "c-123" in response.text
