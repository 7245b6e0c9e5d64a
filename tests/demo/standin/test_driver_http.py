"""The driver plays Slack toward a Bolt app over real, signed HTTP."""

from __future__ import annotations

import pytest

from bot.demo.standin import (
    BOT_USER_ID,
    STALE,
    UNSIGNED,
    WRONG_SIGNATURE,
    SlackDriver,
    SlackStandIn,
    ack_body,
    retried,
)
from tests.demo.standin.standin_support import ALICE, BOB, SIGNING_SECRET, SUPPORT, BoltServer


class TestSigning:
    def test_signed_command_reaches_the_handler_and_its_ack_shows_to_the_user(
        self, driver: SlackDriver, standin: SlackStandIn, bolt_server: BoltServer
    ) -> None:
        """A properly signed command is handled; the ack text is an ephemeral for the user."""
        response = driver.command(ALICE, "community bob@example.com")
        assert response.status_code == 200
        assert ack_body(response) == {"text": "Looking up community bob@example.com…"}
        body = bolt_server.seen.commands[0]
        assert body["user_id"] == ALICE and body["user_name"] == "alice"
        assert body["channel_id"] == SUPPORT and body["channel_name"] == "support"
        assert body["response_url"].startswith(standin.url + "/response/")
        [shown] = standin.ephemerals(SUPPORT, ALICE)
        assert shown.text == "Looking up community bob@example.com…"

    @pytest.mark.parametrize(
        "delivery", [UNSIGNED, WRONG_SIGNATURE, STALE], ids=["unsigned", "wrong-signature", "stale"]
    )
    def test_bad_signatures_are_refused_by_bolt(
        self, driver: SlackDriver, bolt_server: BoltServer, delivery: object
    ) -> None:
        """Unsigned, wrongly signed and 6-minute-old requests get 401 and reach no listener."""
        response = driver.command(ALICE, "x", delivery=delivery)  # type: ignore[arg-type]
        assert response.status_code == 401
        assert bolt_server.seen.commands == []

    def test_retries_carry_slacks_headers(
        self, driver: SlackDriver, bolt_server: BoltServer
    ) -> None:
        """A redelivery arrives signed, with X-Slack-Retry-Num for the bot to recognise."""
        assert driver.command(ALICE, "x", delivery=retried(2)).status_code == 200
        driver.command(ALICE, "y")
        assert bolt_server.seen.retries == ["2", None]

    def test_slow_acks_are_violations(self, standin: SlackStandIn, bolt_server: BoltServer) -> None:
        """An ack later than Slack's deadline is recorded (here the deadline is zero)."""
        with SlackDriver(
            standin, bolt_server.events_url, SIGNING_SECRET, ack_deadline=0.0
        ) as impatient:
            impatient.command(ALICE, "x")
        [violation] = standin.violations
        assert violation.method == "ack" and "acked after" in violation.problems[0]

    def test_trigger_ids_are_unique_per_request(
        self, driver: SlackDriver, bolt_server: BoltServer
    ) -> None:
        """Every request carries its own trigger_id, as Slack's do."""
        driver.command(ALICE, "a")
        driver.command(ALICE, "b")
        triggers = {c["trigger_id"] for c in bolt_server.seen.commands}
        assert len(triggers) == 2


class TestModals:
    def test_views_open_lands_and_submission_round_trips(
        self, driver: SlackDriver, standin: SlackStandIn, bolt_server: BoltServer
    ) -> None:
        """The modal the handler opens can be found, filled in and submitted."""
        driver.command(ALICE, "form")
        modal = driver.last_opened_view(ALICE)
        assert modal.callback_id == "request" and modal.id.startswith("V")
        response = driver.submit_view(ALICE, modal, {"provider": "community", "user": "bob"})
        assert response.status_code == 200 and ack_body(response) == {}
        view = bolt_server.seen.submissions[0]["view"]
        assert view["id"] == modal.id and view["private_metadata"] == "meta-1"
        assert view["state"]["values"] == {
            "provider": {
                "provider": {
                    "type": "static_select",
                    "selected_option": {
                        "text": {"type": "plain_text", "text": "Community"},
                        "value": "community",
                    },
                }
            },
            "user": {"user": {"type": "plain_text_input", "value": "bob"}},
            "reason": {"reason": {"type": "plain_text_input", "value": "lost phone"}},
        }
        assert standin.view(modal.id).open is False  # type: ignore[union-attr]
        message = driver.latest_message(SUPPORT, with_buttons=True)
        assert [b["text"]["text"] for b in message.buttons()] == ["Approve", "Deny"]

    def test_field_errors_keep_the_modal_open(
        self, driver: SlackDriver, standin: SlackStandIn
    ) -> None:
        """An ``errors`` ack leaves the modal open with the message under the field."""
        driver.command(ALICE, "form")
        modal = driver.last_opened_view(ALICE)
        driver.submit_view(ALICE, modal, {"provider": "flags", "user": "nobody"})
        current = standin.view(modal.id)
        assert current is not None and current.open and current.errors == {"user": "No such user"}

    def test_the_driver_refuses_what_slack_would_not_submit(self, driver: SlackDriver) -> None:
        """Empty required fields, unknown options and unknown fields are test mistakes."""
        driver.command(ALICE, "form")
        modal = driver.last_opened_view(ALICE)
        with pytest.raises(ValueError, match="user is required"):
            driver.submit_view(ALICE, modal, {"provider": "community"})
        with pytest.raises(ValueError, match="not an option"):
            driver.submit_view(ALICE, modal, {"provider": "nope", "user": "bob"})
        with pytest.raises(KeyError, match="colour"):
            driver.submit_view(ALICE, modal, {"provider": "flags", "user": "b", "colour": "x"})

    def test_a_select_in_the_modal_and_the_handlers_update(
        self, driver: SlackDriver, standin: SlackStandIn, bolt_server: BoltServer
    ) -> None:
        """A block action from a modal carries the view with its state; views.update lands."""
        driver.command(ALICE, "form")
        modal = driver.last_opened_view(ALICE)
        driver.view_action(ALICE, modal, "provider", "flags", values={"user": "bo"})
        body = bolt_server.seen.actions[0]
        assert body["container"] == {"type": "view", "view_id": modal.id}
        assert body["actions"][0]["selected_option"]["value"] == "flags"
        assert body["view"]["state"]["values"]["user"]["user"]["value"] == "bo"
        standin.wait_for("views.update", view_id=modal.id)
        assert len(modal.versions) == 2 and "Provider: flags" in modal.all_text()

    def test_closing_a_modal(self, driver: SlackDriver, standin: SlackStandIn) -> None:
        """Closing is silent without notify_on_close, and a closed modal cannot be used."""
        driver.command(ALICE, "form")
        modal = driver.last_opened_view(ALICE)
        assert driver.view_closed(ALICE, modal) is None
        assert modal.closed_by == "close"
        with pytest.raises(LookupError, match="closed"):
            driver.submit_view(ALICE, modal, {"provider": "flags", "user": "b"})


class TestClicks:
    def _approval(self, driver: SlackDriver) -> None:
        driver.command(ALICE, "form")
        driver.submit_view(
            ALICE, driver.last_opened_view(ALICE), {"provider": "community", "user": "bob"}
        )

    def test_click_round_trips(
        self, driver: SlackDriver, standin: SlackStandIn, bolt_server: BoltServer
    ) -> None:
        """A click carries the message, container and action; the handler's updates land."""
        self._approval(driver)
        message = driver.latest_message(SUPPORT, with_buttons=True)
        response = driver.click(BOB, message, "approve")
        assert response.status_code == 200
        body = bolt_server.seen.actions[0]
        assert body["user"] == {
            "id": BOB,
            "username": "bob",
            "name": "bob",
            "team_id": body["team"]["id"],
        }
        assert body["container"] == {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": SUPPORT,
            "is_ephemeral": False,
        }
        assert body["message"]["ts"] == message.ts and body["message"]["user"] == BOT_USER_ID
        action = body["actions"][0]
        assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
            "approve",
            "decide",
            "r1",
            "button",
        )
        standin.wait_for("chat.postMessage", thread_ts=message.ts)
        standin.wait_for("response_url")
        assert message.edited and message.text == "Approved" and message.buttons() == []
        assert [r.text for r in standin.thread(SUPPORT, message.ts)] == ["Done: password reset"]
        assert [e.text for e in standin.ephemerals(SUPPORT, BOB)] == ["You approved it"]

    def test_a_late_click_needs_allow_stale(
        self, driver: SlackDriver, standin: SlackStandIn
    ) -> None:
        """Buttons an update removed can only be clicked deliberately, as a stale client."""
        self._approval(driver)
        message = driver.latest_message(SUPPORT, with_buttons=True)
        driver.click(BOB, message, "approve")
        standin.wait_for("chat.update")
        with pytest.raises(LookupError, match="allow_stale"):
            driver.click(BOB, message, "approve")
        assert driver.click(BOB, message, "approve", allow_stale=True).status_code == 200

    def test_the_transcript_reads_like_the_channel(
        self, driver: SlackDriver, standin: SlackStandIn
    ) -> None:
        """The whole exchange renders with edits, the thread and private messages marked."""
        self._approval(driver)
        driver.click(BOB, driver.latest_message(SUPPORT, with_buttons=True), "approve")
        standin.wait_for("response_url")
        text = standin.transcript(times=False)
        assert text.splitlines() == [
            "#support",
            "  Alice Archer typed /reset-password form  (only visible to @alice)",
            "  resetbot  (edited)",
            "      Approved by @bob",
            "    ↳ resetbot",
            "          Done: password reset",
            "  resetbot  (only visible to @bob)",
            "      You approved it",
        ]
        assert standin.violations == []
