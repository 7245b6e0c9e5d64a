"""The transports: Slack over HTTP (a WSGI app under gunicorn), or Socket Mode; ``/healthz``."""

from __future__ import annotations

import ctypes
import io
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from pythonjsonlogger.json import JsonFormatter as JsonFormatterBase
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot import metrics
from bot.slack.delivery import begin_delivery, end_delivery
from bot.slack.views_state import well_formed

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from slack_bolt.adapter.socket_mode import SocketModeHandler

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
METRICS_PATH = "/metrics"
MAX_BODY = 1024 * 1024  # Slack's payloads are far smaller; refuse to buffer anything bigger


def _reply(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def make_wsgi_app(
    app: App | None,
    health: Callable[[], bool],
    *,
    scrape: Callable[[], bytes] | None = None,
    metrics_token: str | None = None,
) -> WSGIApplication:
    """``POST /slack/events`` to Bolt (if ``app``), ``GET /healthz``, ``GET /metrics`` (if
    ``scrape``, behind the bearer ``metrics_token`` if set); everything else 404."""
    bolt = SlackRequestHandler(app, path=EVENTS_PATH) if app is not None else None
    check = health
    release = metrics.version()

    def wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz":
            if method not in ("GET", "HEAD"):
                return _reply(start_response, "405 Method Not Allowed", {"ok": False})
            ok = check()
            status = "200 OK" if ok else "503 Service Unavailable"
            return _reply(start_response, status, {"ok": ok, "version": release})
        if path == METRICS_PATH and scrape is not None:
            if method not in ("GET", "HEAD"):
                return _reply(start_response, "405 Method Not Allowed", {"ok": False})
            if not metrics.token_matches(metrics_token, environ.get("HTTP_AUTHORIZATION", "")):
                start_response(
                    "401 Unauthorized",
                    [("WWW-Authenticate", "Bearer"), ("Content-Type", "application/json")],
                )
                return [b'{"ok": false, "error": "unauthorized"}']
            data = scrape()
            start_response(
                "200 OK",
                [("Content-Type", metrics.CONTENT_TYPE), ("Content-Length", str(len(data)))],
            )
            return [data]
        if path == EVENTS_PATH and bolt is not None:
            if method != "POST":
                return _reply(start_response, "405 Method Not Allowed", {"ok": False})
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                return _reply(start_response, "413 Content Too Large", {"ok": False})
            raw = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(raw)
            if not well_formed(raw, str(environ.get("CONTENT_TYPE", ""))):
                # Bolt parses the body before it checks the signature and would raise on it.
                log.warning("refused a Slack request whose payload is not shaped like Slack's")
                return _reply(
                    start_response, "400 Bad Request", {"ok": False, "error": "bad_request"}
                )
            delivery = begin_delivery()
            try:
                body = bolt(environ, start_response)
            except (TypeError, AttributeError, KeyError, ValueError):
                # Bolt reads ids out of the payload before it checks the signature, and trusts
                # their types (a ``"user": false`` raises there): a 400, never a 500.
                log.warning("refused a Slack request Bolt could not read", exc_info=True)
                delivery.release()
                return _reply(
                    start_response, "400 Bad Request", {"ok": False, "error": "bad_request"}
                )
            finally:
                end_delivery()
            # The server calls close() once the response is written: only then do the jobs
            # the listener handed on start (bot.slack.delivery).
            return _AfterWrite(body, delivery.release)
        return _reply(start_response, "404 Not Found", {"ok": False, "error": "not_found"})

    return wsgi


class _AfterWrite:
    """A WSGI body whose ``close`` (called by the server once it is written) runs ``done``."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self._body = body
        self._done = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._done()


JSON_FIELDS = ("request_id", "provider", "state")  # added to a JSON line when a record has them


class JsonFormatter(JsonFormatterBase):
    """One JSON object per line: time, level, logger, message, process, and what is known of
    the request (``extra={"request_id": ...}``)."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def configure_logging(level: str, log_format: str = "text") -> None:
    """The root logger: ``text`` lines, or one JSON object per line (``log_format="json"``)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s")
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every URL at INFO; some provider URLs carry tokens (Unleash's link check).
    for noisy in ("httpx", "httpcore", "slack_sdk.web.base_client", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


MALLOC_ARENAS = 2  # glibc's default: up to 8 per core, one more each time threads contend


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> None:
    """Cap glibc's malloc arenas before any thread starts (``MALLOC_ARENA_MAX`` still wins).

    Dozens of threads (request threads, workers, sweeper, heartbeat) run SQLite, whose page
    cache on each connection is dropped and refilled whenever another connection has written
    (WAL). Spread over many arenas, the freed memory is not reused well and RSS creeps up while
    the memory actually in use stays flat.
    """
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(-8, arenas)  # M_ARENA_MAX; inherited by gunicorn's forked workers


def run_gunicorn(
    load: Callable[[], WSGIApplication],
    *,
    host: str,
    port: int,
    log_level: str = "INFO",
    on_exit: Callable[[], None] = lambda: None,
) -> None:
    """gunicorn, gthread workers: ``WEB_CONCURRENCY`` processes of ``RESETBOT_THREADS`` threads.

    ``load`` builds the WSGI app in each worker after the fork. The benchmarks serve a bare
    Bolt app through this same function, so both run on exactly the same server stack.
    """
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
    threads = int(os.environ.get("RESETBOT_THREADS", "16"))

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 30)
            self.cfg.set("graceful_timeout", 30)
            self.cfg.set("keepalive", 5)
            self.cfg.set("loglevel", log_level.lower())
            self.cfg.set("worker_exit", lambda _server, _worker: on_exit())

        def load(self) -> WSGIApplication:
            return load()

    _Server().run()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def socket_mode_handler(app: App, app_token: str) -> SocketModeHandler:
    """Bolt's Socket Mode handler, starting each envelope's jobs once its ack has gone out.

    As over HTTP (``make_wsgi_app``): so a fast worker can never post its answer first and
    have the placeholder land on top.
    """
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.socket_mode.builtin.client import SocketModeClient
    from slack_sdk.socket_mode.request import SocketModeRequest

    class _Handler(SocketModeHandler):
        def handle(
            self,
            client: SocketModeClient,  # type: ignore[override] # as Bolt does
            req: SocketModeRequest,
        ) -> None:
            delivery = begin_delivery()  # the listener finds it on this thread
            try:
                super().handle(client, req)  # dispatches, then sends the ack
            finally:
                end_delivery()
                delivery.release()

    return _Handler(app, app_token)


def serve_socket_mode(
    app: App,
    app_token: str,
    healthy: Callable[[], bool],
    *,
    port: int | None,
    on_exit: Callable[[], None],
    host: str = "0.0.0.0",  # noqa: S104
    scrape: Callable[[], bytes] | None = None,
    metrics_token: str | None = None,
) -> None:
    """Serve ``app`` over Socket Mode until SIGTERM or SIGINT, then ``on_exit``."""
    health: WSGIServer | None = None
    if port:
        # No Slack traffic arrives over HTTP in Socket Mode; /healthz and /metrics still serve.
        health = make_server(
            host,
            port,
            make_wsgi_app(None, healthy, scrape=scrape, metrics_token=metrics_token),
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        threading.Thread(target=health.serve_forever, daemon=True, name="healthz").start()
    handler = socket_mode_handler(app, app_token)
    stopped = threading.Event()

    def stop(*_: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        handler.connect()  # type: ignore[no-untyped-call]
        log.info("resetbot connected over Socket Mode")
        stopped.wait()
    finally:
        handler.close()  # type: ignore[no-untyped-call]
        if health is not None:
            health.shutdown()
        on_exit()


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 resets a burst of clicks; gunicorn's is 2048.
    request_queue_size = 128


class BackgroundServer:
    """The WSGI app on a loopback port in a thread: for the demo and the end-to-end tests."""

    def __init__(self, app: WSGIApplication, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = make_server(
            host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self.host = host
        self.port = int(self._server.server_address[1])
        self.url = f"http://{host}:{self.port}"
        # A short poll interval: stop() waits for the loop to notice, and the tests stop a lot.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"wsgi-{self.port}",
        )

    def start(self) -> BackgroundServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
