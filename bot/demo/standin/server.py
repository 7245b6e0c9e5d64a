"""SlackStandIn, the loopback Slack Web API, and its HTTP side: routing, auth, parsing, replies."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.demo.standin import blockkit
from bot.demo.standin.core import ACK_WAIT, ApiError, Reply, Violation
from bot.demo.standin.faults import Faults
from bot.demo.standin.interactions import Interactions
from bot.demo.standin.reading import Reading
from bot.demo.standin.web_api import METHODS, WebApi

log = logging.getLogger(__name__)

# Fields slack_sdk may send as JSON strings inside a form body.
JSON_FIELDS = ("blocks", "attachments", "view", "metadata")


class SlackStandIn(Faults, Reading, Interactions, WebApi):
    """A local Slack: point a WebClient at ``api_url`` and drive the bot with ``SlackDriver``.

    Permissive by default: any ``C…``/``G…`` channel id exists and has the bot in it, unless
    ``strict_channels`` is set, when only ``add_channel`` ones exist. Its parts: ``core`` (the
    state), ``faults``, ``reading``, ``interactions`` (the driver's hooks) and ``web_api``; this
    class serves them over HTTP.
    """

    def start(self) -> SlackStandIn:
        if self._server is not None:
            return self
        server = _Server((self._host, self._port), _Handler)
        server.standin = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        # The Web API goes first: a Socket Mode client that loses its connection reconnects
        # through apps.connections.open, which must not start a fresh server meanwhile.
        if self._server is not None:
            self._server.shutdown()
            # Joins the request threads too (block_on_close), so nothing outlives the stand-in.
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
        with self._lock:
            self._server = None
            self._thread = None
            socket_mode, self._socket_mode = self._socket_mode, None
        if socket_mode is not None:
            socket_mode.stop()

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve_api(self, method: str, params: dict[str, Any], token: str | None) -> Reply:
        with self._changed:
            try:
                injected = self._pop_failure(method)
                if injected is not None:
                    reply = injected
                    self._record(method, params, reply.status, reply.body, injected=True)
                    return reply
                handler = METHODS.get(method)
                if handler is None:
                    raise ApiError("unknown_method")
                self._check_token(method, token)
                body: Any = handler(self, params)
            except ApiError as exc:
                body = {"ok": False, "error": exc.error, **exc.extra}
            self._record(method, params, 200, body)
            return Reply(200, body)

    def _serve_response_url(self, token: str, payload: dict[str, Any]) -> Reply:
        with self._changed:
            target = self._responses.get(token)
            if target is not None and target.awaiting_ack:
                self._changed.wait_for(lambda: not target.awaiting_ack, timeout=ACK_WAIT)
            injected = self._pop_failure("response_url")
            if injected is not None:
                self._record("response_url", payload, injected.status, injected.body, injected=True)
                return injected
            if token not in self._responses:
                reply = Reply(404, {"ok": False, "error": "expired_url"})
            else:
                problems = blockkit.check_message(payload.get("text"), payload.get("blocks"))
                if problems:
                    self._violations.append(Violation("response_url", problems, payload))
                    reply = Reply(
                        400,
                        {
                            "ok": False,
                            "error": "invalid_blocks",
                            "response_metadata": {"messages": problems},
                        },
                    )
                else:
                    self._respond(token, payload, via="response_url")
                    reply = Reply(200, {"ok": True})
            self._record("response_url", payload, reply.status, reply.body)
            return reply

    def _check_token(self, method: str, token: str | None) -> None:
        if not token:
            raise ApiError("not_authed")
        if token not in (self.bot_token, self.app_token):
            raise ApiError("invalid_auth")
        wants_app_token = method == "apps.connections.open"
        if (token == self.app_token) != wants_app_token:
            raise ApiError("not_allowed_token_type")


def parse_body(content_type: str, raw: bytes, query: str = "") -> dict[str, Any]:
    """Form or JSON parameters, with JSON-in-form fields (blocks, view…) decoded."""
    params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if raw:
        if "json" in content_type:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("a JSON body must be an object")
            params.update(data)
        else:
            form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
            params.update({k: v[-1] for k, v in form.items()})
    for key in JSON_FIELDS:
        value = params.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            params[key] = json.loads(value)
    return params


class _Server(ThreadingHTTPServer):
    standin: SlackStandIn
    daemon_threads = False
    block_on_close = True
    # The bot's worker pool calls in bursts: socketserver's default backlog of 5 drops SYNs
    # under load, and each dropped one costs the caller a 1 s retransmit.
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so server_close() never waits on an idle keep-alive.
    protocol_version = "HTTP/1.0"
    timeout = 10

    def do_POST(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        standin = self.server.standin
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            params = parse_body(self.headers.get("Content-Type", ""), raw, parts.query)
        except (ValueError, UnicodeDecodeError):
            self._send(Reply(200, {"ok": False, "error": "invalid_json"}))
            return
        if parts.path.startswith("/api/"):
            token = None
            auth = self.headers.get("Authorization", "")
            if auth.lower().startswith("bearer "):
                token = auth[7:].strip()
            token = params.pop("token", None) or token
            self._send(standin._serve_api(parts.path[len("/api/") :], params, token))
        elif parts.path.startswith("/response/"):
            if isinstance(params.get("payload"), str):
                params = parse_body("application/json", params["payload"].encode())
            self._send(standin._serve_response_url(parts.path[len("/response/") :], params))
        else:
            self._send(Reply(404, "not found"))

    def _send(self, reply: Reply) -> None:
        if isinstance(reply.body, str):
            data = reply.body.encode("utf-8")
            content_type = "text/plain; charset=utf-8"
        else:
            data = json.dumps(reply.body).encode("utf-8")
            content_type = "application/json; charset=utf-8"
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("stand-in: " + format, *args)
