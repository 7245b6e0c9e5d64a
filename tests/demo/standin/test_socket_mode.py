"""Bolt's default SocketModeHandler (slack_sdk's builtin client) works against the stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient

from bot.demo.standin import SlackStandIn, SocketModeDriver
from tests.demo.standin.standin_support import ALICE, BOB, SUPPORT, Seen, build_app


@pytest.fixture
def seen() -> Seen:
    return Seen([], [], [])


@pytest.fixture
def connected(standin: SlackStandIn, seen: Seen) -> Iterator[SocketModeHandler]:
    web = WebClient(token=standin.bot_token, base_url=standin.api_url)
    app = build_app(web, seen)
    # The handler's SocketModeClient reuses app.client, so apps.connections.open goes to the
    # stand-in too; connect() returns once the WebSocket is up and runs it in the background.
    handler = SocketModeHandler(app, app_token=standin.app_token)
    handler.connect()  # type: ignore[no-untyped-call]
    try:
        standin.socket_mode.wait_connected()
        yield handler
    finally:
        # Hanging up from the server side first frees the client's blocking read at once;
        # otherwise its close() waits out a 3 s receive timeout.
        handler.client.auto_reconnect_enabled = False
        standin.socket_mode.stop()
        handler.close()  # type: ignore[no-untyped-call]


class TestSocketMode:
    def test_the_connection_uses_the_app_token(
        self, standin: SlackStandIn, connected: SocketModeHandler
    ) -> None:
        """apps.connections.open was called with the xapp token and a client is connected."""
        call = standin.wait_for("apps.connections.open")
        assert call.ok and call.response["url"].startswith("ws://127.0.0.1:")
        assert standin.socket_mode.connection_count() == 1

    def test_command_modal_and_click_round_trip(
        self, standin: SlackStandIn, seen: Seen, connected: SocketModeHandler
    ) -> None:
        """Envelopes reach the listeners and each ack comes back with its payload."""
        driver = SocketModeDriver(standin)
        assert driver.command(ALICE, "community bob") == {"text": "Looking up community bob…"}
        assert seen.commands[0]["user_id"] == ALICE
        assert standin.ephemerals(SUPPORT, ALICE)[0].text == "Looking up community bob…"

        assert driver.command(ALICE, "form") == {}
        modal = driver.last_opened_view(ALICE)
        assert driver.submit_view(ALICE, modal, {"provider": "flags", "user": "nobody"}) == {
            "response_action": "errors",
            "errors": {"user": "No such user"},
        }
        assert driver.submit_view(ALICE, modal, {"provider": "flags", "user": "bob"}) == {}

        message = driver.latest_message(SUPPORT, with_buttons=True)
        assert driver.click(BOB, message, "approve") == {}
        standin.wait_for("response_url")
        assert message.text == "Approved" and seen.actions[0]["actions"][0]["value"] == "r1"
        assert standin.violations == []
