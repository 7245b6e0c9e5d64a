"""The transports: Slack over HTTP (a WSGI app under gunicorn), or Socket Mode; ``/healthz``."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import io
import json
import logging
import os
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import partial
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from pythonjsonlogger.json import JsonFormatter as JsonFormatterBase
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier

from bot import metrics
from bot.slack.delivery import Delivery, begin_delivery, end_delivery
from bot.slack.fit import visible
from bot.slack.views_state import well_formed

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from slack_bolt.adapter.socket_mode import SocketModeHandler

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
METRICS_PATH = "/metrics"
MAX_BODY = 1024 * 1024  # Slack's payloads are far smaller; refuse to buffer anything bigger
MAX_HEAD = 64 * 1024  # request line and headers
READ_DEADLINE = 10.0  # seconds a client has to send a whole request (RESETBOT_READ_DEADLINE)
STORE_DOWN = ":x: The store is unavailable; nothing was done. Please try again later."

#: ``problem()``: why the store cannot be used now (a sentence naming it), or None.
Problem = Callable[[], "str | None"]
#: ``first(keys)``: True the first time this process sees these delivery keys.
FirstDelivery = Callable[[list[str]], bool]
#: ``check(keys, then)``: calls ``then(first)``, first False if another replica saw them.
SharedCheck = Callable[[list[str], Callable[[bool], None]], None]


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
    signing_secret: str | None = None,
    store_problem: Problem | None = None,
    first_here: FirstDelivery | None = None,
    first_everywhere: SharedCheck | None = None,
) -> WSGIApplication:
    """``POST /slack/events`` to Bolt (if ``app``), ``GET /healthz``, ``GET /metrics`` (if
    ``scrape``, behind the bearer ``metrics_token`` if set); everything else 404.

    With ``signing_secret``, a Slack request's signature is checked before anything in it is
    parsed or logged; then ``store_problem`` (answered without acting while the store is
    unusable) and ``first_here`` (a delivery this process has seen is acknowledged and
    dropped). ``first_everywhere`` (a round trip to the store) runs once the ack is written,
    before the work the listener handed on starts: a delivery another replica saw first starts
    none of it. So a replay acts once on every replica, and no ack waits for the store.
    """
    bolt = SlackRequestHandler(app, path=EVENTS_PATH) if app is not None else None
    verifier = SignatureVerifier(signing_secret) if signing_secret else None
    check = health
    release = metrics.version()

    def wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz":
            if method not in ("GET", "HEAD"):
                return _reply(start_response, "405 Method Not Allowed", {"ok": False})
            problem = store_problem() if store_problem is not None else None
            if problem is not None:
                log.error("health check: %s", problem)
                return _reply(
                    start_response,
                    "503 Service Unavailable",
                    {"ok": False, "version": release, "error": problem},
                )
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
                _refused(environ, "413", "body too large or its length unreadable", length)
                return _reply(start_response, "413 Content Too Large", {"ok": False})
            raw = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(raw)
            if verifier is not None:
                refusal, reason = _verify(verifier, environ, raw)
                if refusal is not None:
                    _refused(environ, refusal[:3], reason, len(raw))
                    return _reply(
                        start_response, refusal, {"ok": False, "error": "invalid_request"}
                    )
            if not _well_formed(raw, str(environ.get("CONTENT_TYPE", ""))):
                # Bolt parses the body before it checks the signature and would raise on it.
                _refused(environ, "400", "payload not shaped like Slack's", len(raw))
                return _reply(
                    start_response, "400 Bad Request", {"ok": False, "error": "bad_request"}
                )
            payload = _payload(raw, str(environ.get("CONTENT_TYPE", "")))
            if store_problem is not None and (problem := store_problem()) is not None:
                log.error("refused a Slack request: %s", problem)
                return _store_down(start_response, payload)
            keys: list[str] | None = None
            if first_here is not None and verifier is not None:
                keys = _delivery_keys(environ, raw, payload)
                if not first_here(keys):
                    log.warning("ignored a replayed Slack request (%s)", _kind(payload))
                    return _reply(start_response, "200 OK", {})
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
            if keys is None or first_everywhere is None:
                return _AfterWrite(body, delivery.release)
            return _AfterWrite(
                body, partial(_start_once, delivery, keys, first_everywhere, _kind(payload))
            )
        return _reply(start_response, "404 Not Found", {"ok": False, "error": "not_found"})

    return wsgi


def _verify(
    verifier: SignatureVerifier, environ: WSGIEnvironment, raw: bytes
) -> tuple[str | None, str]:
    """(None, "") for a request Slack signed; else the status to answer and why, in words."""
    timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""))
    signature = str(environ.get("HTTP_X_SLACK_SIGNATURE", ""))
    # One header sent twice arrives joined with a comma, so it fails the digit test too.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return "401 Unauthorized", "missing or malformed timestamp"
    if not signature.startswith("v0=") or len(signature) > 80:
        return "401 Unauthorized", "missing or malformed signature"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "401 Unauthorized", "body is not UTF-8"
    if abs(time.time() - int(timestamp)) > 60 * 5:
        return "401 Unauthorized", "timestamp outside Slack's five minutes"
    if not verifier.is_valid(raw, timestamp, signature):
        return "401 Unauthorized", "bad signature"
    return None, ""


def _well_formed(raw: bytes, content_type: str) -> bool:
    try:
        return well_formed(raw, content_type)
    except RecursionError:  # JSON nested deeper than Python recurses
        return False


def _refused(environ: WSGIEnvironment, status: str, reason: str, size: int) -> None:
    """One bounded line for a refused request: nothing of its body, nothing unescaped."""
    log.info(
        "refused a request to %s from %s: %s %s (%d bytes)",
        visible(str(environ.get("PATH_INFO", "")))[:100],
        visible(str(environ.get("REMOTE_ADDR", "?")))[:64],
        status,
        reason,
        size,
    )


def _payload(raw: bytes, content_type: str) -> dict[str, Any]:
    """The fields of a signed request a transport needs (a command's form, or ``payload``)."""
    try:
        text = raw.decode("utf-8")
        if content_type.startswith("application/json"):
            found = json.loads(text or "{}")
            return found if isinstance(found, dict) else {}
        form = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
        if "payload" in form:
            found = json.loads(form["payload"])
            return found if isinstance(found, dict) else {}
        return dict(form)
    except (ValueError, RecursionError):
        return {}


def _kind(payload: dict[str, Any]) -> str:
    return visible(str(payload.get("type") or payload.get("command") or "unknown"))[:40]


def _delivery_keys(environ: WSGIEnvironment, raw: bytes, payload: dict[str, Any]) -> list[str]:
    """What makes one delivery: its ``trigger_id`` when it has one, else its signed bytes."""
    # 128 bits of SHA-256: collisions are out of reach, and each key is small in memory.
    trigger = payload.get("trigger_id")
    if isinstance(trigger, str) and trigger:
        return ["t:" + hashlib.sha256(trigger.encode()).hexdigest()[:32]]
    timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""))
    return ["s:" + hashlib.sha256(timestamp.encode() + b":" + raw).hexdigest()[:32]]


def _store_down(start_response: StartResponse, payload: dict[str, Any]) -> list[bytes]:
    """Acknowledge without acting, telling the person where Slack lets the answer show."""
    kind = payload.get("type")
    if kind == "view_submission":
        return _reply(
            start_response,
            "200 OK",
            {
                "response_action": "update",
                "view": {
                    "type": "modal",
                    "title": {"type": "plain_text", "text": "resetbot"},
                    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": STORE_DOWN}}],
                },
            },
        )
    url = payload.get("response_url")
    if kind is not None and isinstance(url, str) and url.startswith(("https://", "http://")):
        threading.Thread(target=_tell, args=(url,), daemon=True, name="store-down").start()
        return _reply(start_response, "200 OK", {})
    if kind is None and "command" in payload:
        return _reply(start_response, "200 OK", {"response_type": "ephemeral", "text": STORE_DOWN})
    return _reply(start_response, "200 OK", {})


def _tell(response_url: str) -> None:
    from slack_sdk.webhook import WebhookClient

    try:
        WebhookClient(response_url, timeout=10).send(
            text=STORE_DOWN, response_type="ephemeral", replace_original=False
        )
    except Exception:
        log.warning("could not tell a person that the store is unavailable", exc_info=True)


def _start_once(
    delivery: Delivery, keys: list[str], first_everywhere: SharedCheck, kind: str
) -> None:
    """Start what the listener handed on, unless another replica saw this delivery first."""

    def then(first: bool) -> None:
        if first:
            delivery.release()
        else:
            log.warning("ignored a replayed Slack request, seen by another replica (%s)", kind)
            delivery.drop()

    first_everywhere(keys, then)


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


class TextFormatter(logging.Formatter):
    """One line per record: control characters in the message are escaped, so nothing a
    client sends can start a line of its own (tracebacks still follow on their lines)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = visible(record.message)
        return super().formatMessage(record)


def configure_logging(level: str, log_format: str = "text") -> None:
    """The root logger: ``text`` lines, or one JSON object per line (``log_format="json"``)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
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

    workers = _count("WEB_CONCURRENCY", 1)
    threads = _count("RESETBOT_THREADS", 16)
    deadline = _count("RESETBOT_READ_DEADLINE", int(READ_DEADLINE))

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", buffering_worker(deadline))
            self.cfg.set("timeout", 30)
            self.cfg.set("graceful_timeout", 30)
            self.cfg.set("keepalive", 5)
            self.cfg.set("loglevel", log_level.lower())
            self.cfg.set("worker_exit", lambda _server, _worker: on_exit())

        def load(self) -> WSGIApplication:
            return load()

    _Server().run()


def _count(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    try:
        value = int(text) if text else default
    except ValueError:
        value = 0
    if value < 1:
        raise ServerError(f"{name}={text!r} is not a positive whole number", status=2)
    return value


class ServerError(Exception):
    """The server cannot start (port in use, Slack unreachable): one line for the operator,
    and the exit status (2: a setting or credential to fix)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def check_port(host: str, port: int) -> None:
    """Raise ServerError unless ``host:port`` can be listened on (gunicorn would retry, loudly)."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ServerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    probe = socket.socket(family, kind, proto)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
    except OSError as exc:
        why = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise ServerError(f"cannot listen on {host}:{port}: {why}") from None
    finally:
        probe.close()


def buffering_worker(read_deadline: float = READ_DEADLINE) -> type:
    """gunicorn's gthread worker, but its event loop (not a thread) reads each request in full.

    A thread is only given a request once all of it has arrived, so clients that trickle
    headers or bodies, or send half a request and wait, hold a socket and a few bytes, never
    a thread; a request not complete within ``read_deadline`` seconds is answered 408 and closed.
    """
    from gunicorn.workers.gthread import TConn, ThreadWorker  # type: ignore[import-untyped]

    class BufferingWorker(ThreadWorker):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.reading: dict[Any, tuple[bytearray, float]] = {}

        def accept(self, listener: socket.socket) -> None:
            try:
                sock, client = listener.accept()
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                    raise
                return
            self.nr_conns += 1
            self.start_reading(TConn(self.cfg, sock, client, listener.getsockname()))

        def on_client_socket_readable(self, conn: Any, client: socket.socket) -> None:
            # A kept-alive connection's next request is read the same way as a first one.
            self.poller.unregister(client)
            self.keepalived_conns.remove(conn)
            self.start_reading(conn)

        def start_reading(self, conn: Any, ahead: bytes = b"") -> None:
            conn.sock.setblocking(False)
            self.reading[conn] = (bytearray(ahead), time.monotonic() + read_deadline)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_bytes, conn))
            if ahead:
                self.consider(conn)

        def enqueue_req(self, conn: Any) -> None:
            if getattr(conn, "resetbot_ready", False):
                conn.resetbot_ready = False
                super().enqueue_req(conn)
                return
            # gunicorn hands back a kept-alive connection whose next request it read ahead:
            # that request is completed here too, never on a thread.
            ahead = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
            self.start_reading(conn, ahead)

        def on_bytes(self, conn: Any, _sock: socket.socket) -> None:
            if conn not in self.reading:
                return
            try:
                data = conn.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self.drop(conn)
                return
            self.reading[conn][0].extend(data)
            self.consider(conn)

        def consider(self, conn: Any) -> None:
            buf, _ = self.reading[conn]
            verdict = request_complete(buf)
            if verdict is False:
                return
            if verdict is not True:
                self.drop(conn, verdict)
                return
            self.poller.unregister(conn.sock)
            del self.reading[conn]
            conn.init()
            conn.parser.unreader.unread(bytes(buf))
            conn.data_ready = True
            conn.resetbot_ready = True
            self.enqueue_req(conn)

        def drop(self, conn: Any, answer: bytes = b"") -> None:
            self.reading.pop(conn, None)
            try:
                self.poller.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass
            if answer:
                try:
                    conn.sock.send(answer)
                except OSError:
                    pass
            self.nr_conns -= 1
            conn.close()

        def murder_pending(self) -> None:
            super().murder_pending()
            now = time.monotonic()
            for conn in [c for c, (_, deadline) in self.reading.items() if deadline <= now]:
                self.drop(conn, _status_line("408 Request Timeout"))

        def run(self) -> None:
            try:
                super().run()
            finally:
                for conn in list(self.reading):
                    self.drop(conn)

    return BufferingWorker


def _status_line(status: str) -> bytes:
    return f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".encode()


def request_complete(buf: bytes | bytearray) -> bool | bytes:
    """True once ``buf`` holds a whole HTTP/1.1 request, False while more is to come, or the
    answer (status line) that refuses it: too large, or a body of unannounced length."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return _status_line("431 Request Header Fields Too Large") if len(buf) > MAX_HEAD else False
    if end > MAX_HEAD:
        return _status_line("431 Request Header Fields Too Large")
    length = 0
    for line in bytes(buf[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            # Slack always sends a Content-Length; a chunked body could trickle past the loop.
            return _status_line("411 Length Required")
        if name == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return True  # gunicorn's parser answers 400
    if length > MAX_BODY:
        return _status_line("413 Content Too Large")
    return len(buf) >= end + 4 + length


class _QuietHandler(WSGIRequestHandler):
    timeout = READ_DEADLINE  # per read: a silent client cannot hold its thread for ever

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
        try:
            handler.connect()  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise _socket_mode_error(exc) from None
        log.info("resetbot connected over Socket Mode")
        stopped.wait()
    finally:
        handler.close()  # type: ignore[no-untyped-call]
        if health is not None:
            health.shutdown()
        on_exit()


def _socket_mode_error(exc: Exception) -> ServerError:
    from slack_sdk.errors import SlackApiError

    if isinstance(exc, SlackApiError):
        error = str(exc.response.get("error") or exc.response.status_code)
        if error in ("invalid_auth", "not_authed", "token_revoked", "not_allowed_token_type"):
            return ServerError(f"Slack rejected SLACK_APP_TOKEN ({error})", status=2)
        return ServerError(f"Slack refused a Socket Mode connection ({error})")
    return ServerError(f"cannot open a Socket Mode connection to Slack ({type(exc).__name__})")


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
