"""What operators watch, through the real ``resetbot serve``: /metrics, JSON logs, the audit
webhook across a receiver outage and a restart."""

from __future__ import annotations

import hashlib
import hmac
import json
import shlex
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from bot.demo.rig import SUPPORT, free_port, wait_for
from bot.demo.sandboxes import Sandbox
from bot.demo.standin import SlackDriver, SlackStandIn
from bot.store.db import Store
from bot.store.models import AuditEvent
from tests.e2e.test_serve import SECRET, _stop, procfile, run, start_serve

WEBHOOK_SECRET = "webhook-test-secret-0123456789"  # noqa: S105 - loopback only
METRICS_TOKEN = "metrics-test-token-abcdef"  # noqa: S105 - loopback only


class Receiver:
    """A loopback audit-webhook receiver that verifies every signature; stop() = gone."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.events: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.status = 200
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers.get("X-Resetbot-Request-Timestamp", "")
                mac = hmac.new(
                    WEBHOOK_SECRET.encode(), f"v1:{stamp}:".encode() + body, hashlib.sha256
                )
                signed = hmac.compare_digest(
                    self.headers.get("X-Resetbot-Signature", ""), f"v1={mac.hexdigest()}"
                )
                if not signed or abs(time.time() - int(stamp or 0)) > 300:
                    outer.bad_signatures += 1
                elif outer.status == 200:
                    outer.events.append(json.loads(body))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(free_port()).start()
    yield r
    r.stop()


def scrape(url: str, token: str | None = METRICS_TOKEN) -> dict[tuple[str, tuple[Any, ...]], float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    samples: dict[tuple[str, tuple[Any, ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict[tuple[str, tuple[Any, ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def file_request(driver: SlackDriver, who: str, target: str) -> Any:
    response = driver.command(who, f"community {target} locked out", delivery=None)
    assert response.status_code == 200
    return driver.latest_message(SUPPORT, with_buttons=True, timeout=10)


@pytest.mark.slow
def test_metrics_json_logs_and_the_audit_webhook_through_serve(
    tmp_path: Path,
    env: dict[str, str],
    standin: SlackStandIn,
    sandbox: Sandbox,
    receiver: Receiver,
) -> None:
    """Counters move as a request goes through both processes; the webhook receives every
    audit event, signed and in order per request, across an outage and a restart."""
    sandbox.add_user(email="uma@example.com", name="Uma Ulm")
    config = Path(env["RESETBOT_CONFIG"])
    config.write_text(
        'log_format = "json"\n'
        f'metrics_token = "{METRICS_TOKEN}"\n'
        + config.read_text()
        + f'\n[audit.webhook]\nurl = "http://127.0.0.1:{receiver.port}/events"\n'
        f'secret = "{WEBHOOK_SECRET}"\n'
    )
    lines = procfile()
    run(lines["release"], env, tmp_path)
    run("resetbot roles grant U0ALICE requester", env, tmp_path)

    proc, url = start_serve(shlex.split(lines["web"]), env, tmp_path)
    errs: list[str] = []
    try:
        assert httpx.get(f"{url}/metrics").status_code == 401
        wrong = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and METRICS_TOKEN not in wrong.text
        health = httpx.get(f"{url}/healthz").json()
        assert health["ok"] is True and health["version"]
        before = scrape(url)
        with SlackDriver(standin, f"{url}/slack/events", SECRET) as driver:
            message = file_request(driver, "U0ALICE", "tom@example.com")
            driver.click("U0BOB", message, "approve_request")
            driver.submit_view("U0BOB", driver.last_opened_view("U0BOB"), {})
            sandbox.wait_for_calls(1, timeout=10)
            standin.wait_until(
                lambda: (
                    "Done" in (standin.message(message.channel, message.ts) or message).all_text()
                ),
                10,
                what="the outcome",
            )
            after = scrape(url)
            filed = "resetbot_requests_filed_total"
            assert (
                value(after, filed, provider="community")
                - value(before, filed, provider="community")
                == 1
            )
            finished = "resetbot_requests_finished_total"
            assert value(after, finished, provider="community", state="succeeded") == 1
            assert (
                value(after, "resetbot_decisions_total", provider="community", decision="approve")
                == 1
            )
            calls = "resetbot_provider_call_seconds_count"
            assert value(after, calls, provider="community", action="reset", outcome="ok") == 1
            assert value(after, calls, provider="community", action="resolve", outcome="ok") >= 1
            assert value(after, "resetbot_sweeps_total", outcome="ok") >= 1  # the worker's
            assert value(after, "resetbot_pending_requests") == 0
            for (name, labels), _ in after.items():
                for _key, label in labels:
                    assert "@" not in label and not label.startswith("R"), (name, labels)

            wait_for(lambda: len(receiver.events) >= 6, 15, what="the first events")
            # The receiver fails, then is gone; a request is filed and denied meanwhile.
            receiver.status = 500
            second = file_request(driver, "U0ALICE", "uma@example.com")
            wait_for(
                lambda: value(scrape(url), "resetbot_audit_outbox_backlog") >= 1,
                10,
                what="a backlog",
            )
            receiver.stop()
            driver.click("U0BOB", second, "deny_request")
            driver.submit_view(
                "U0BOB", driver.last_opened_view("U0BOB"), {"reason": "not verified"}
            )
            standin.wait_until(
                lambda: (
                    "Denied" in (standin.message(second.channel, second.ts) or second).all_text()
                ),
                10,
                what="the denial",
            )
            wait_for(
                lambda: value(scrape(url), "resetbot_audit_outbox_backlog") >= 2,
                10,
                what="the denial in the backlog",
            )
    finally:
        errs.append(_stop(proc))

    receiver.status = 200
    receiver.start()
    proc, url = start_serve(shlex.split(lines["web"]), env, tmp_path)
    try:
        store = Store(f"sqlite:///{tmp_path / 'resetbot.db'}")
        with store.reading() as tx:
            recorded = [(str(e.id), e.request_id) for e in tx.scalars(select(AuditEvent))]
        store.dispose()
        wanted = {event_id for event_id, _ in recorded}
        wait_for(
            lambda: wanted <= {e["id"] for e in receiver.events},
            30,
            what="every audit event at the receiver",
        )
        wait_for(
            lambda: value(scrape(url), "resetbot_audit_outbox_backlog") == 0,
            10,
            what="an empty backlog",
        )
    finally:
        errs.append(_stop(proc))

    assert receiver.bad_signatures == 0
    by_request: dict[str | None, list[int]] = {}
    for event in receiver.events:
        ids = by_request.setdefault(event["request_id"], [])
        if not ids or ids[-1] != int(event["id"]):  # a repeat after a lost answer is allowed
            ids.append(int(event["id"]))
    for request_id, ids in by_request.items():
        assert ids == sorted(set(ids)), (request_id, ids)
    assert {e["action"] for e in receiver.events} >= {
        "role.granted",
        "request.filed",
        "request.succeeded",
        "request.denied",
    }
    # JSON logs: every line resetbot's own loggers wrote is one object.
    ours = [json.loads(line) for err in errs for line in err.splitlines() if line.startswith("{")]
    assert any("ready on" in entry["message"] for entry in ours)
    assert any(entry["logger"] == "bot.webhook" for entry in ours)  # the outage was logged
    for entry in ours:
        assert {"time", "level", "logger", "message"} <= entry.keys()
    text_lines = [
        line for err in errs for line in err.splitlines() if line and not line.startswith("{")
    ]
    assert all(line.startswith("[") for line in text_lines), text_lines  # gunicorn's own
