"""Fixtures: a started stand-in, and a tiny Bolt app served over real HTTP (wsgiref, port 0)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.demo.standin import SlackDriver, SlackStandIn
from tests.demo.standin.standin_support import (
    ALICE,
    BOB,
    SIGNING_SECRET,
    SUPPORT,
    BoltServer,
    Seen,
    build_app,
)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn() as s:
        s.add_user(ALICE, "alice", real_name="Alice Archer")
        s.add_user(BOB, "bob", real_name="Bob Baker")
        s.add_channel(SUPPORT, "support")
        yield s
    assert not [t for t in threading.enumerate() if t.name.startswith("slack-standin")]


@pytest.fixture
def bolt_server(standin: SlackStandIn) -> Iterator[BoltServer]:
    client = WebClient(token=standin.bot_token, base_url=standin.api_url)
    seen = Seen([], [], [])
    app = build_app(client, seen)
    handler = SlackRequestHandler(app)
    server = make_server(
        "127.0.0.1", 0, handler, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield BoltServer(app, f"http://127.0.0.1:{server.server_port}/slack/events", seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def driver(standin: SlackStandIn, bolt_server: BoltServer) -> Iterator[SlackDriver]:
    with SlackDriver(standin, bolt_server.events_url, SIGNING_SECRET) as d:
        yield d
