"""A loopback Socket Mode server: hands out ws:// URLs, sends envelopes, collects acks."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from bot.demo.standin.workspace import APP_ID

log = logging.getLogger(__name__)


@dataclass
class Envelope:
    envelope_id: str
    type: str
    payload: dict[str, Any]
    ack: dict[str, Any] | None = None


class SocketModeServer:
    """What ``apps.connections.open`` points at; built on ``websockets``' threaded server."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._envelopes: dict[str, Envelope] = {}
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SocketModeServer:
        if self._server is None:
            # No compression and no server pings: slack_sdk's builtin client speaks plain RFC 6455
            # and pings on its own schedule.
            self._server = serve(
                self._handle,
                self._host,
                self._port,
                compression=None,
                process_request=self._check_ticket,
                ping_interval=None,
            )
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="slack-standin-ws", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close(1001, "stand-in stopping")
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        deadline = time.monotonic() + 5
        with self._changed:
            while self._connections and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
        self._server = None
        self._thread = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the Socket Mode server is not started")
        return int(self._server.socket.getsockname()[1])

    def new_url(self) -> str:
        ticket = secrets.token_hex(8)
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://{self._host}:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"

    def connection_count(self) -> int:
        with self._lock:
            return len(self._connections)

    def wait_connected(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._connections:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no Socket Mode client connected within {timeout}s")
                self._changed.wait(remaining)

    def deliver(
        self, type: str, payload: dict[str, Any], *, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Send an envelope to the newest connection; the ack's ``payload`` (``{}`` if none)."""
        self.wait_connected(timeout)
        envelope = Envelope(envelope_id=str(uuid.uuid4()), type=type, payload=payload)
        with self._lock:
            connection = self._connections[-1]
            self._envelopes[envelope.envelope_id] = envelope
        connection.send(
            json.dumps(
                {
                    "envelope_id": envelope.envelope_id,
                    "type": type,
                    "payload": payload,
                    "accepts_response_payload": True,
                    "retry_attempt": 0,
                    "retry_reason": "",
                }
            )
        )
        deadline = time.monotonic() + timeout
        with self._changed:
            while envelope.ack is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no ack for {type} envelope {envelope.envelope_id} within {timeout}s"
                    )
                self._changed.wait(remaining)
        return dict(envelope.ack.get("payload") or {})

    def request_reconnect(self) -> None:
        """Ask every client to reconnect, as Slack does before it rotates a server."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.send(
                json.dumps(
                    {
                        "type": "disconnect",
                        "reason": "refresh_requested",
                        "debug_info": {"host": "standin"},
                    }
                )
            )

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        ticket = (parse_qs(parts.query).get("ticket") or [""])[0]
        with self._lock:
            valid = parts.path.rstrip("/") == "/link" and ticket in self._tickets
            # A ticket is good for one connection, like the ones apps.connections.open issues.
            self._tickets.discard(ticket)
        if valid:
            return None
        return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid ticket\n")

    def _handle(self, connection: ServerConnection) -> None:
        with self._changed:
            self._connections.append(connection)
            self._changed.notify_all()
        try:
            connection.send(
                json.dumps(
                    {
                        "type": "hello",
                        "num_connections": len(self._connections),
                        "debug_info": {
                            "host": "standin",
                            "build_number": 1,
                            "approximate_connection_time": 3600,
                        },
                        "connection_info": {"app_id": APP_ID},
                    }
                )
            )
            for raw in connection:
                self._receive(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                self._connections.remove(connection)
                self._changed.notify_all()

    def _receive(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("stand-in: a Socket Mode client sent non-JSON: %r", raw[:200])
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        with self._changed:
            envelope = self._envelopes.get(str(envelope_id))
            if envelope is None:
                log.warning("stand-in: ack for an unknown envelope %r", envelope_id)
                return
            envelope.ack = message
            self._changed.notify_all()
