"""The sandbox every provider kind builds on: routing, recorded calls, latency, injected faults."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self
from urllib.parse import parse_qsl, urlsplit

from bot.demo.sandboxes.handler import LoopbackServer, RequestHandler, handler_for
from bot.demo.sandboxes.routes import RecordedCall, Request, Response, Route

Fault = Literal["timeout", "reset", "html", "invalid_json", "unexpected_body"]
FAULTS: tuple[str, ...] = ("timeout", "reset", "html", "invalid_json", "unexpected_body")
_HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>The upstream server is not responding.</p></body></html>"
)
_INVALID_JSON = b'{"Status": "OK", "resetPasswordUrl": '


@dataclass(slots=True)
class _Injection:
    step: str
    status: int | None
    body: Any
    headers: dict[str, str]
    fault: str | None
    remaining: int | None  # None: until cleared


class Sandbox:
    """A provider kind's API on loopback, following its documented contract.

    Start with ``start_sandbox(kind)``; ``settings_dict()`` gives credentials it accepts.
    Each request is routed to a *step* ("lookup", "action", "check", ...) which the knobs
    address: ``latency``/``set_latency`` delay it, ``inject`` replaces or mangles its answer.
    Injected error statuses answer instead of the API (nothing happens); the faults
    ``timeout`` and ``reset`` and mangled 2xx answers happen *after* the API acted, like a
    lost answer in real life.
    """

    kind: ClassVar[str]
    # Seconds a "timeout" fault holds the connection before closing it (stop() ends it early).
    hold_seconds: float = 30.0

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._calls: list[RecordedCall] = []
        self._injections: list[_Injection] = []
        self._step_latency: dict[str, float] = {}
        self._open: set[socket.socket] = set()
        self.latency = 0.0
        self._routes = list(self.routes())
        self._server = LoopbackServer((host, port), handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.01},  # how soon stop() returns,
                name=f"sandbox-{self.kind}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end held connections, and wait for every thread; idempotent."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        with self._lock:
            held = list(self._open)
        for sock in held:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()  # joins the request threads

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def routes(self) -> Iterable[Route]:
        raise NotImplementedError

    def settings_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def add_user(self, *, email: str, name: str, **options: Any) -> str:
        raise NotImplementedError

    def secrets(self) -> list[str]:
        """Every secret this sandbox accepts or has handed out, for leak checks."""
        return []

    def error_body(self, status: int) -> Any:
        """The body this API sends with an injected status that came without one."""
        return {"error": f"injected {status}", "message": f"injected {status}"}

    def redact(self, step: str, query: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        """Remove secrets (reset tokens, new passwords) before a call is recorded."""
        return query, body

    def set_latency(self, step: str, seconds: float) -> None:
        """Delay every request of ``step`` by ``seconds`` (on top of ``latency``)."""
        with self._lock:
            self._step_latency[step] = seconds

    def inject(
        self,
        step: str,
        *,
        status: int | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        fault: Fault | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer the next ``times`` requests of ``step`` differently (``times=None``: all).

        ``status`` alone answers with that status (and ``body``/``headers``) instead of the
        API. ``fault``: "timeout" holds the connection without an answer, "reset" drops it,
        "html" sends an HTML page (status 502 unless given), "invalid_json" broken JSON and
        "unexpected_body" a well-formed but wrong JSON body (both status 200 unless given).
        """
        if status is None and fault is None:
            raise ValueError("inject needs a status or a fault")
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every request)")
        with self._lock:
            self._injections.append(
                _Injection(step, status, body, dict(headers or {}), fault, times)
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._injections.clear()
            self._step_latency.clear()
            self.latency = 0.0

    def reset_rate_limits(self) -> None:
        """Forget every rate-limit window (kinds without a limit have nothing to forget)."""

    @property
    def calls(self) -> list[RecordedCall]:
        with self._lock:
            return list(self._calls)

    def action_calls(self) -> list[RecordedCall]:
        return [c for c in self.calls if c.step == "action"]

    def wait_for_calls(
        self, n: int, step: str | None = "action", timeout: float = 5.0
    ) -> list[RecordedCall]:
        """Block until at least ``n`` calls of ``step`` (None: any) were answered; return them."""

        def matching() -> list[RecordedCall]:
            return [c for c in self._calls if step is None or c.step == step]

        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= n, timeout=timeout):
                got = len(matching())
                raise TimeoutError(
                    f"{self.kind} sandbox saw {got} {step or 'any'} call(s), not {n}, "
                    f"within {timeout} s"
                )
            return matching()

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def _route(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match and route.method == method:
                return route, match.groupdict()
        return None, {}

    def _take_injection(self, step: str) -> _Injection | None:
        with self._lock:
            for injection in self._injections:
                if injection.step == step:
                    if injection.remaining is not None:
                        injection.remaining -= 1
                        if injection.remaining == 0:
                            self._injections.remove(injection)
                    return injection
        return None

    def _wait(self, seconds: float) -> bool:
        """Sleep unless stopping; True when the sandbox is stopping."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()

    def _serve(self, handler: RequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        route, params = self._route(handler.command, parts.path)
        step = route.step if route else "other"
        request = Request(handler.command, parts.path, query, headers, body, params)
        with self._lock:
            delay = self.latency + self._step_latency.get(step, 0.0)
        if self._wait(delay):
            handler.drop()
            return
        injection = self._take_injection(step)
        response = self._answer(route, request, injection)
        fault = injection.fault if injection else None
        status = None if fault in ("timeout", "reset") else response.status
        self._record(request, step, status)
        if fault == "timeout":
            self._wait(self.hold_seconds)
            handler.drop()
        elif fault == "reset":
            handler.drop()
        else:
            handler.reply(response)

    def _answer(
        self, route: Route | None, request: Request, injection: _Injection | None
    ) -> Response:
        if injection is None or injection.fault in ("timeout", "reset"):
            return self._call(route, request)
        fault, status = injection.fault, injection.status
        if fault is None:
            assert status is not None
            body = injection.body if injection.body is not None else self.error_body(status)
            return Response(status, None if status == 204 else body, injection.headers)
        status = status if status is not None else (502 if fault == "html" else 200)
        if status < 400:
            self._call(route, request)  # the API acted; only its answer is mangled
        if fault == "html":
            headers = {"Content-Type": "text/html; charset=utf-8", **injection.headers}
            return Response(status, _HTML_PAGE, headers)
        if fault == "invalid_json":
            headers = {"Content-Type": "application/json", **injection.headers}
            return Response(status, _INVALID_JSON, headers)
        body = injection.body if injection.body is not None else {"unexpected": True}
        return Response(status, body, injection.headers)

    def _call(self, route: Route | None, request: Request) -> Response:
        if route is None:
            return Response(404, self.error_body(404))
        with self._lock:  # one request changes the state at a time, like a database would
            return route.handler(request)

    def _record(self, request: Request, step: str, status: int | None) -> None:
        query, body = self.redact(step, dict(request.query), request.json)
        with self._changed:
            self._calls.append(
                RecordedCall(request.method, request.path, query, body, step, status)
            )
            self._changed.notify_all()
