"""The threaded HTTP server under each sandbox: hands it every request, writes or drops answers."""

from __future__ import annotations

import json
import logging
import re
import socket
import struct
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    import socket
    from collections.abc import Iterable
    from contextlib import AbstractContextManager

    from bot.demo.sandboxes.routes import Response


class Host(Protocol):
    """What a handler needs of the sandbox it serves (``Sandbox`` in ``server.py``)."""

    kind: ClassVar[str]

    @property
    def _lock(self) -> AbstractContextManager[Any]: ...

    @property
    def _open(self) -> set[socket.socket]: ...

    def _serve(self, handler: RequestHandler) -> None: ...

    def secrets(self) -> Iterable[str]: ...


log = logging.getLogger(__name__)

_QUERY = re.compile(r"\?[^\s\"]*")


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins them: nothing outlives stop()
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128  # a burst of look-ups must not lose SYNs (1 s retransmits)


class RequestHandler(BaseHTTPRequestHandler):
    sandbox: ClassVar[Host]
    protocol_version = "HTTP/1.0"  # one request per connection: nothing idles after stop()
    timeout = 10  # a client that connects and says nothing cannot hold a thread for long
    server_version = "resetbot-sandbox"

    def setup(self) -> None:
        super().setup()
        with self.sandbox._lock:
            self.sandbox._open.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.sandbox._lock:
                self.sandbox._open.discard(self.connection)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def _dispatch(self) -> None:
        self.sandbox._serve(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def reply(self, response: Response) -> None:
        if response.body is None:
            payload = b""
        elif isinstance(response.body, bytes):
            payload = response.body
        else:
            payload = json.dumps(response.body).encode()
        self.send_response(response.status)
        names = {k.lower() for k in response.headers}
        if payload and "content-type" not in names:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def drop(self) -> None:
        """Close the connection with a reset and no answer."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        # The request line may carry a reset token in its query: log the path only. A garbled
        # request (a client that gave up mid-body) is logged as "Bad request syntax ('…')" and
        # may quote a header line, credential included: mask every secret the sandbox knows.
        text = _QUERY.sub("?[query redacted]", format % args)
        for secret in self.sandbox.secrets():
            if secret:
                text = text.replace(secret, "[secret]")
        log.debug("%s sandbox: %s", self.sandbox.kind, text)


def handler_for(sandbox: Host) -> type[RequestHandler]:
    return type("Handler", (RequestHandler,), {"sandbox": sandbox})
