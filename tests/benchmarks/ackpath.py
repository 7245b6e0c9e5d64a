"""CPU per acknowledgement, in one process: resetbot's WSGI app called directly, no HTTP.

``python -m tests.benchmarks.ackpath`` (about 20 seconds). Where ``python -m tests.benchmarks``
measures latency under load, this isolates what one acknowledgement costs in resetbot's own
code (the WSGI layer, Bolt with resetbot's middleware, the listener, handing its job on) against
the same Bolt request answered by a listener that only acks. Acks do not touch the database:
what ``status``, ``pending`` and ``file`` do next runs on the rig's pool (a worker process
under ``resetbot serve``) and is not counted here. No load driver, no gunicorn, no
other thread competing: the figures move little between runs, so a change to the ack path can be
compared before and after on the same machine.

The store is SQLite with ``--requests`` requests filed by the requester first (default 200:
``status`` then lists the latest 10 of many).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.demo.rig import SIGNING_SECRET, SUPPORT, Rig
from bot.demo.standin import APP_ID, TEAM_ID
from bot.server import EVENTS_PATH, make_wsgi_app

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def environ_for(body: bytes) -> dict[str, Any]:
    timestamp = str(int(time.time()))
    base = b"v0:" + timestamp.encode() + b":" + body
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": EVENTS_PATH,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": timestamp,
        "HTTP_X_SLACK_SIGNATURE": signature,
    }


def cpu_ms(app: WSGIApp, body: bytes, n: int) -> float:
    """Mean CPU milliseconds for one request through ``app`` (after 50 to warm up)."""
    statuses: list[str] = []

    def once() -> None:
        out = app(environ_for(body), lambda status, *_: statuses.append(status))
        b"".join(out)
        close = getattr(out, "close", None)
        if close is not None:
            close()

    for _ in range(50):
        once()
    began = time.thread_time()
    for _ in range(n):
        once()
    took = time.thread_time() - began
    if any(not s.startswith("200") for s in statuses):
        raise SystemExit(f"not answered 200: {sorted(set(statuses))}")
    return took * 1000 / n


def bare_app(rig: Rig) -> WSGIApp:
    """The floor: as tests/benchmarks/bare_bolt.py, Bolt configured as resetbot configures it."""
    client = WebClient(token=rig.standin.bot_token, base_url=rig.standin.api_url)
    app = App(client=client, signing_secret=SIGNING_SECRET, process_before_response=True)

    @app.command("/reset-password")
    def ack_only(ack: Any) -> None:
        ack()

    return SlackRequestHandler(app, path=EVENTS_PATH)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.ackpath",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=200, help="filed before measuring")
    parser.add_argument("-n", type=int, default=2000, help="requests per row")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="resetbot-ackpath-") as tmp,
        Rig(
            Path(tmp),
            settings_options={"max_pending_per_requester": 1000, "max_pending_per_target": 100},
            check_jobs_pickle=False,
        ) as rig,
    ):  # serve pickles on a feeder thread
        alice = rig.user_id("alice")
        sandbox = rig.sandbox("community")
        emails = [f"user{i:03d}@example.com" for i in range(400)]
        for email in emails:
            sandbox.add_user(email=email, name=email.split("@")[0])
        for i in range(args.requests):
            rig.say("alice", f"community {emails[i % len(emails)]} phone swap, ticket {i}")
        rig.settle(120)

        def command(text: str, user: str = alice) -> bytes:
            return urlencode(
                {
                    "token": "legacy",
                    "team_id": TEAM_ID,
                    "channel_id": SUPPORT,
                    "user_id": user,
                    "command": "/reset-password",
                    "text": text,
                    "api_app_id": APP_ID,
                    "response_url": rig.standin.new_response_url(SUPPORT, alice),
                    "trigger_id": "1.2.bench",
                }
            ).encode()

        resetbot = make_wsgi_app(rig.web.app, rig.web.healthy)
        floor = cpu_ms(bare_app(rig), command("help"), args.n)
        rows = [("bare Bolt (listener only acks)", floor)]
        bob = rig.user_id("bob")  # an approver: pending lists the oldest 20 he may decide
        for label, body, n in (
            ("help (answered in the ack)", command("help"), args.n),
            (
                "status: the ack (the latest 10 are read in the background)",
                command("status"),
                args.n,
            ),
            (
                "pending: the ack (an approver's 20 oldest, in the background)",
                command("pending", bob),
                args.n,
            ),
            (
                "file: the ack (access check, look-up and filing in the background)",
                command(f"community {emails[0]} phone swap"),
                args.n // 5,
            ),
        ):
            rows.append((f"resetbot {label}", cpu_ms(resetbot, body, n)))
        rig.settle(120)
        print(
            f"CPU per acknowledgement, one thread, {args.n} requests a row, "
            f"{len(rig.request_ids())} requests in the store\n"
        )
        print("| request | CPU ms | ÷ bare Bolt |\n|---|---:|---:|")
        for label, ms in rows:
            print(f"| {label} | {ms:.3f} | {ms / floor:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
