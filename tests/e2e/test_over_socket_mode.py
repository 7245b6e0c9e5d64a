"""The same bot over Socket Mode: Bolt's SocketModeHandler against the stand-in's server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.demo.rig import SUPPORT, Rig
from bot.demo.standin import SocketModeDriver
from bot.server import socket_mode_handler
from tests.e2e.e2e_support import decided_in_place, succeeded


@pytest.fixture
def socket_driver(rig: Rig) -> Iterator[SocketModeDriver]:
    handler = socket_mode_handler(rig.web.app, rig.standin.app_token)
    handler.connect()  # type: ignore[no-untyped-call]
    try:
        rig.standin.socket_mode.wait_connected()
        yield SocketModeDriver(rig.standin)
    finally:
        # Hang up from the server side first, so the client's blocking read ends at once.
        handler.client.auto_reconnect_enabled = False
        rig.standin.socket_mode.stop()
        handler.close()  # type: ignore[no-untyped-call]


def test_file_and_approve_over_socket_mode(rig: Rig, socket_driver: SocketModeDriver) -> None:
    """Command, approval click and modal submission arrive as envelopes; the reset happens."""
    ack = socket_driver.command(
        "U0ALICE", "community tom@example.com locked out", channel_id=SUPPORT
    )
    assert "Looking up" in ack["text"] or "filed" in ack["text"], ack
    rid = rig.wait(lambda: next(iter(rig.request_ids()), None), what="a request")
    rig.wait(lambda: rig.request(rid).approval_ts, what="the approval message")
    rig.settle()
    # One answer, replaced in place: the outcome, never a late "Looking up…" after it.
    (answer,) = rig.standin.ephemerals(user="U0ALICE")
    assert "filed" in answer.text, answer.text

    socket_driver.click("U0BOB", rig.approval_message(rid), "approve_request")
    modal = rig.wait(lambda: rig.standin.views_for("U0BOB"), what="the approval modal")[-1]
    assert socket_driver.submit_view("U0BOB", modal, {"note": "over the socket"}) == {}
    succeeded(rig, rid)
    assert len(rig.sandbox("community").action_calls()) == 1
    decided_in_place(rig, rid, who="bob", words="Done")
    assert rig.standin.socket_mode.connection_count() == 1
