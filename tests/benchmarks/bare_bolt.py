"""The baseline: a bare Bolt app whose ``/reset-password`` listener only acks.

Served by ``bot.server.run_gunicorn``, the function ``resetbot serve`` uses, so both run on the
same gunicorn gthread stack with the same ``WEB_CONCURRENCY`` and ``RESETBOT_THREADS``. Like
resetbot it verifies signatures and its token (``auth.test`` against the Slack stand-in).

``python -m tests.benchmarks.bare_bolt`` with ``PORT``, ``SLACK_SIGNING_SECRET``,
``SLACK_BOT_TOKEN`` and ``SLACK_API_URL`` set; ``BARE_BOLT_PROCESS_BEFORE_RESPONSE=1`` runs the
listener on the request's thread, as resetbot configures Bolt (Bolt's default hands it to another
thread and polls for the ack every 10 ms).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bot.server import EVENTS_PATH, run_gunicorn

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment


def load() -> WSGIApplication:
    from slack_bolt import Ack, App
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_sdk import WebClient

    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    app = App(
        client=client,
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=os.environ.get("BARE_BOLT_PROCESS_BEFORE_RESPONSE") == "1",
    )

    @app.command("/reset-password")
    def reset_password(ack: Ack) -> None:
        ack()

    bolt = SlackRequestHandler(app, path=EVENTS_PATH)

    def wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            body = json.dumps({"ok": True}).encode()
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return bolt(environ, start_response)

    return wsgi


def main() -> None:
    run_gunicorn(load, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="WARNING")


if __name__ == "__main__":
    main()
