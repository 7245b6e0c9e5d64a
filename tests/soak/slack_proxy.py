"""Between the bot and the Slack stand-in: forwards each Web API call, or fails it on purpose."""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# What a call can get instead of Slack's answer. Every fault but "slow" happens before the call
# reaches the stand-in, as when Slack's edge refuses it: nothing was done. "slow" delays the
# answer to a call already carried out.
KINDS = ("ratelimited", "5xx", "reset", "stall", "slow")


class SlackProxy:
    """``api_url`` for the bot's settings; ``upstream`` (the stand-in's ``api_url``) may be set
    after the proxy started. ``fail_next`` queues faults for one method; ``rate`` and
    ``weights`` add random ones to every call. ``faults`` counts what was injected, by kind."""

    def __init__(
        self,
        upstream: str = "",
        *,
        rate: float = 0.0,
        weights: dict[str, float] | None = None,
        seed: int = 0,
        stall_seconds: float = 11.0,
        slow_seconds: tuple[float, float] = (0.2, 1.5),
    ) -> None:
        self.upstream = upstream
        self.rate = rate
        self.weights = weights or {"ratelimited": 3, "5xx": 3, "reset": 2, "slow": 4}
        self.stall_seconds = stall_seconds
        self.slow_seconds = slow_seconds
        self.faults: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._queued: dict[str, deque[str]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def start(self) -> SlackProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, method: str, kind: str, *, times: int = 1) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(KINDS)}")
        with self._lock:
            self._queued.setdefault(method, deque()).extend([kind] * times)

    def _choose(self, method: str) -> str | None:
        with self._lock:
            queue = self._queued.get(method)
            if queue:
                kind: str | None = queue.popleft()
            elif self.rate and self._random.random() < self.rate:
                kinds = list(self.weights)
                kind = self._random.choices(kinds, [self.weights[k] for k in kinds])[0]
            else:
                kind = None
            if kind is not None:
                self.faults[kind] += 1
            return kind

    def _delay(self) -> float:
        with self._lock:
            return self._random.uniform(*self.slow_seconds)


class _Server(ThreadingHTTPServer):
    proxy: SlackProxy
    daemon_threads = True
    request_queue_size = 256


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        method = urlsplit(self.path).path.rsplit("/", 1)[-1]
        kind = proxy._choose(method)
        if kind == "ratelimited":
            self._reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
        elif kind == "5xx":
            self._reply(503, "503 Service Unavailable")
        elif kind == "reset":
            self._drop()
        elif kind == "stall":
            proxy._stopping.wait(proxy.stall_seconds)
            self._drop()
        else:
            self._forward(body, delay=proxy._delay() if kind == "slow" else 0.0)

    def _forward(self, body: bytes, *, delay: float) -> None:
        """Slack's answer (after ``delay``: a slow response to a call Slack has carried out)."""
        upstream = urlsplit(self.server.proxy.upstream)
        conn = http.client.HTTPConnection(upstream.hostname or "", upstream.port, timeout=60)
        try:
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() in ("authorization", "content-type", "content-length")
            }
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            time.sleep(delay)
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() in ("content-type", "retry-after"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the bot gave up on a slow answer first, as a client of a slow Slack does
        finally:
            conn.close()

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, str):
            data, kind = body.encode(), "text/plain"
        else:
            data, kind = json.dumps(body).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        """Close with a TCP reset and no answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def finish(self) -> None:
        try:
            super().finish()
        except (OSError, ValueError):
            pass  # dropped on purpose

    def log_message(self, format: str, *args: Any) -> None:
        pass
