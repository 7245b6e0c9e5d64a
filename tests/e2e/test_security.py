"""Only Slack may talk to the bot: unsigned, wrongly signed, stale and retried deliveries."""

from __future__ import annotations

import pytest

from bot.demo.rig import Rig
from bot.demo.standin import STALE, UNSIGNED, WRONG_SIGNATURE, Delivery, retried
from bot.store.models import RequestState
from tests.e2e.e2e_support import succeeded

BAD = [
    pytest.param(UNSIGNED, id="unsigned"),
    pytest.param(WRONG_SIGNATURE, id="wrong-secret"),
    pytest.param(STALE, id="stale"),
]


class TestSignatures:
    @pytest.mark.parametrize("delivery", BAD)
    def test_command_is_refused(self, rig: Rig, delivery: Delivery) -> None:
        """401, no request, no Slack call, no audit event."""
        mark = rig.standin.mark()  # after the start-up auth.test
        audit = rig.audit()  # the rig's role grants
        response = rig.driver.command(
            "U0ALICE", "community tom@example.com locked out", delivery=delivery
        )
        assert response.status_code == 401
        rig.settle()
        assert rig.request_ids() == set()
        assert rig.standin.calls[mark:] == []
        assert rig.audit() == audit
        assert rig.sandbox("community").calls == []

    @pytest.mark.parametrize("delivery", BAD)
    def test_clicks_and_submissions_are_refused(self, rig: Rig, delivery: Delivery) -> None:
        rid = rig.file("alice", "community tom@example.com locked out")
        rig.settle()
        mark = rig.standin.mark()
        audit = rig.audit()
        response = rig.click("bob", rid, "approve", delivery=delivery)
        assert response.status_code == 401
        assert rig.standin.calls[mark:] == []

        # A forged approval modal submission (the view exists only in the forger's mind).
        uid = rig.user_id("bob")
        rig.click("bob", rid, "approve")
        modal = rig.wait(lambda: rig.standin.views_for(uid), what="approval modal")[-1]
        mark = rig.standin.mark()
        response = rig.driver.submit_view(uid, modal, {}, delivery=delivery)
        assert response.status_code == 401
        rig.settle()
        assert rig.standin.calls[mark:] == []
        assert rig.audit() == audit
        assert rig.request(rid).state is RequestState.PENDING
        assert rig.sandbox("community").action_calls() == []

    def test_a_retried_delivery_is_not_acted_on_twice(self, rig: Rig) -> None:
        """Slack's redelivery of an approval submission dispatches nothing more."""
        rid = rig.file("alice", "community tom@example.com locked out")
        uid = rig.user_id("bob")
        rig.click("bob", rid, "approve")
        modal = rig.wait(lambda: rig.standin.views_for(uid), what="approval modal")[-1]
        rig.driver.submit_view(uid, modal, {})
        succeeded(rig, rid)
        response = rig.driver.post("command=/reset-password&text=help&user_id=U0BOB", retried(1))
        assert response.status_code == 200  # acked, nothing done
        assert len(rig.sandbox("community").action_calls()) == 1

    def test_a_retried_command_files_nothing(self, rig: Rig) -> None:
        response = rig.driver.command(
            "U0ALICE", "community tom@example.com locked out", delivery=retried(1)
        )
        assert response.status_code == 200
        rig.settle()
        assert rig.request_ids() == set()
