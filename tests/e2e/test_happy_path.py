"""Command or form → approval message → Approve → modal → provider called once → outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from bot.demo.rig import SUPPORT, Rig
from bot.demo.standin import ModalView
from tests.e2e.e2e_support import (
    decided_in_place,
    dm_texts,
    only_in_dm,
    succeeded,
    thread_texts,
)

MakeRig = Callable[..., Rig]


def approve_through_modal(rig: Rig, request_id: str, approver: str, note: str = "") -> ModalView:
    """Click Approve, check the approval modal shows the request, submit it."""
    uid = rig.user_id(approver)
    mark = len(rig.standin.views_for(uid))
    response = rig.click(approver, request_id, "approve")
    assert response.status_code == 200
    modal: ModalView = rig.wait(
        lambda: rig.standin.views_for(uid)[mark:], what="the approval modal"
    )[-1]
    assert request_id in modal.title
    assert "Tom Taylor" in modal.all_text()
    rig.driver.submit_view(uid, modal, {"note": note} if note else {})
    return modal


def no_secret_leaks(rig: Rig, provider: str, requester: str = "alice") -> list[str]:
    """Every secret the sandbox holds or issued is nowhere in Slack but the requester's DM."""
    dm = rig.standin.dm_channel(rig.user_id(requester))
    delivered = []
    for secret in rig.sandbox(provider).secrets():
        seen = rig.where_seen(secret)
        assert seen in ([], [f"chat.postMessage {dm}"]), (secret[:6], seen)
        if seen:
            delivered.append(secret)
    return delivered


class TestEachProviderKind:
    @pytest.mark.parametrize(
        ("provider", "text", "words"),
        [
            (
                "community",
                'community tom@example.com "locked out after SSO change"',
                "password-reset e-mail",
            ),
            ("edge", "edge tom@example.com forgot password after holiday", "F5"),
            ("gateway", "gateway allow tom@example.com new team lead", "reset other users"),
        ],
    )
    def test_reset_without_secret(self, rig: Rig, provider: str, text: str, words: str) -> None:
        """The provider is called once; the message, its thread and the requester's DM say so."""
        rid = rig.file("alice", text)
        message = rig.approval_message(rid)
        assert message.channel == SUPPORT
        shown = message.all_text()
        for fact in ("Tom Taylor", "tom@example.com", rid, "<@U0ALICE>"):
            assert fact in shown
        assert len(message.buttons()) == 2
        assert rig.sandbox(provider).action_calls() == []

        approve_through_modal(rig, rid, "bob", note="verified by phone")
        succeeded(rig, rid)

        assert len(rig.sandbox(provider).action_calls()) == 1
        decided = decided_in_place(rig, rid, who="bob", words="Done")
        assert words.lower() in decided.all_text().lower()
        assert "verified by phone" in decided.all_text()
        thread = thread_texts(rig, rid)
        assert any("Done" in t for t in thread), thread
        assert any(rid in t and "Done" in t for t in dm_texts(rig, "alice"))
        actions = [a for _, a, _ in rig.audit(rid)]
        assert actions[0] == "request.filed"
        assert actions[-3:] == ["request.approved", "request.dispatching", "request.succeeded"]
        assert no_secret_leaks(rig, provider) == []

    def test_unleash_link_reaches_only_the_requester(
        self, rig: Rig, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The reset link is in Alice's DM and nowhere else (no log line, nothing in the
        store); the channel says it went privately."""
        for name in ("bot", "providers", "resetbot"):
            caplog.set_level(logging.DEBUG, logger=name)
        rid = rig.file("alice", "flags tom@example.com new laptop, cannot sign in")
        pending = rig.approval_message(rid).all_text()
        assert "requester" in pending and "privately" in pending
        approve_through_modal(rig, rid, "bob")
        succeeded(rig, rid)

        assert len(rig.sandbox("flags").action_calls()) == 1
        delivered = no_secret_leaks(rig, "flags")
        links = [s for s in delivered if s.startswith("http")]
        assert len(links) == 1
        only_in_dm(rig, links[0], "alice")
        decided = decided_in_place(rig, rid, who="bob", words="Done")
        assert "direct message" in decided.all_text()
        assert any("direct message" in t for t in thread_texts(rig, rid))
        assert "secret.delivered" in [a for _, a, _ in rig.audit(rid)]
        token = links[0].partition("token=")[2]
        assert token not in caplog.text
        store = b"".join(p.read_bytes() for p in rig.workdir.glob("resetbot.db*"))
        assert token.encode() not in store

    def test_tyk_full_reset_sends_the_temporary_password_only_to_the_requester(
        self, rig: Rig
    ) -> None:
        """With a dashboard_key, reset is the default; the generated password goes by DM."""
        rid = rig.file("alice", "gateway tom@example.com locked out of the dashboard")
        assert rig.request(rid).action == "reset"
        approve_through_modal(rig, rid, "carol")
        succeeded(rig, rid)

        calls = rig.sandbox("gateway").action_calls()
        assert len(calls) == 1 and calls[0].path.endswith("/actions/reset")
        delivered = no_secret_leaks(rig, "gateway")
        assert len(delivered) == 1  # the temporary password, and never a key or the secret
        only_in_dm(rig, delivered[0], "alice")
        decided_in_place(rig, rid, who="carol", words="temporary password")


class TestRequestForm:
    def test_mighty_networks_by_form(self, rig: Rig) -> None:
        """The modal files the same request; the form says it was filed."""
        rid = rig.file_form("alice", "community", "tom@example.com", "locked out")
        rig.settle()
        form = rig.standin.views_for("U0ALICE")[-1]
        assert rid in form.all_text() and "filed" in form.all_text()
        approve_through_modal(rig, rid, "bob")
        succeeded(rig, rid)
        assert len(rig.sandbox("community").action_calls()) == 1
        decided_in_place(rig, rid, who="bob", words="Done")

    def test_unleash_by_form(self, rig: Rig) -> None:
        rid = rig.file_form("alice", "flags", "tom@example.com", "new laptop")
        approve_through_modal(rig, rid, "bob")
        succeeded(rig, rid)
        links = [s for s in no_secret_leaks(rig, "flags") if s.startswith("http")]
        assert len(links) == 1

    @pytest.mark.parametrize(
        ("action", "path"),
        [
            ("allow", "/actions/allow_reset_passwords"),
            ("revoke", "/actions/disallow_reset_passwords"),
            ("reset", "/actions/reset"),
        ],
    )
    def test_tyk_action_select(self, rig: Rig, action: str, path: str) -> None:
        """Choosing Tyk grows an action select; the chosen action is what the provider does."""
        rid = rig.file_form("alice", "gateway", "tom@example.com", "team change", action=action)
        assert rig.request(rid).action == action
        approve_through_modal(rig, rid, "bob")
        succeeded(rig, rid)
        calls = rig.sandbox("gateway").action_calls()
        assert len(calls) == 1 and calls[0].path.endswith(path)
        no_secret_leaks(rig, "gateway")


class TestOnPostgreSQL:
    def test_quorum_reset_on_postgresql(self, pg_url: str, make_rig: MakeRig) -> None:
        """The same flow on the replicas' backend, with two approvals and a secret."""
        rig = make_rig(database_url=pg_url, provider_options={"flags": {"approvals_required": 2}})
        rid = rig.file("alice", "flags tom@example.com new laptop")
        approve_through_modal(rig, rid, "bob")
        rig.settle()
        assert rig.sandbox("flags").action_calls() == []
        approve_through_modal(rig, rid, "carol")
        succeeded(rig, rid)
        assert len(rig.sandbox("flags").action_calls()) == 1
        links = [s for s in no_secret_leaks(rig, "flags") if s.startswith("http")]
        assert len(links) == 1


class TestTykWithoutDashboardKey:
    def test_permission_by_id_is_the_default(self, make_rig: MakeRig) -> None:
        """Only the admin secret: no e-mail look-up, no full reset, and allow is the default."""
        rig = make_rig(provider_options={"gateway": {"dashboard_key": None}})
        rig.say("alice", "gateway tom@example.com new team lead")
        rig.settle()
        assert "dashboard_key" in rig.standin.ephemerals(user="U0ALICE")[-1].all_text()
        tom = rig.accounts["gateway"]["tom@example.com"]
        rig.say("alice", f"gateway reset {tom} new team lead")
        rig.settle()
        told = rig.standin.ephemerals(user="U0ALICE")[-1].all_text()
        assert "allow" in told and "revoke" in told
        assert rig.request_ids() == set()

        rid = rig.file("alice", f"gateway {tom} new team lead")
        assert rig.request(rid).action == "allow"
        approve_through_modal(rig, rid, "bob")
        succeeded(rig, rid)
        calls = rig.sandbox("gateway").action_calls()
        assert len(calls) == 1 and calls[0].path.endswith("/actions/allow_reset_passwords")
