"""Double clicks, replicas and Slack retries: a request is decided once and dispatched once."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import func, select

from bot.demo.rig import SIGNING_SECRET, SUPPORT, Rig, prepare_store, wait_for
from bot.demo.sandboxes import start_sandbox
from bot.demo.standin import SlackDriver, SlackStandIn
from bot.demo.standin.driver import Delivery, retried
from bot.slack import blocks
from bot.store.db import Store
from bot.store.models import Approval, AuditEvent, RequestState
from tests.reliability.reliability_support import (
    Served,
    approval_message,
    bot_settings,
    count,
    only_request,
    slack_world,
)

CLICKS = 50


class _Capture(SlackDriver):
    """Builds the exact body Slack would send, without sending it."""

    def _deliver(
        self, kind: str, payload: dict[str, Any], delivery: Delivery
    ) -> tuple[httpx.Response, dict[str, Any] | None]:
        self.body = urlencode({"payload": json.dumps(payload)})
        return httpx.Response(200), None


def submission_body(standin: SlackStandIn, user_id: str) -> str:
    """The approval modal ``user_id`` has open, submitted (as a signed-ready form body)."""
    capture = _Capture(standin, "http://unused", SIGNING_SECRET)
    modal = standin.views_for(user_id, open_only=True)[-1]
    capture.submit_view(user_id, modal, {})
    return capture.body


def open_approval_modal(
    driver: SlackDriver, standin: SlackStandIn, user_id: str, message: Any
) -> None:
    before = len(standin.views_for(user_id))
    driver.click(user_id, message, blocks.APPROVE_ACTION)
    wait_for(lambda: len(standin.views_for(user_id)) > before, 5, f"{user_id}'s approval modal")


def storm(posts: Sequence[Callable[[], httpx.Response]]) -> list[int]:
    """Fire every post at once (a barrier lines them up); their HTTP statuses."""
    barrier = threading.Barrier(len(posts))

    def fire(post: Callable[[], httpx.Response]) -> int:
        barrier.wait()
        return post().status_code

    with ThreadPoolExecutor(max_workers=len(posts)) as pool:
        statuses = list(pool.map(fire, posts))
    count("concurrent_submissions", len(posts))
    return statuses


def approvals(store: Store, request_id: str) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).where(Approval.request_id == request_id)) or 0)


def audit_actions(store: Store, request_id: str) -> list[str]:
    with store.session() as s:
        return list(
            s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.request_id == request_id)
                .order_by(AuditEvent.id)
            )
        )


class TestDoubleClicks:
    def test_fifty_concurrent_submissions_dispatch_once(self, rig: Rig) -> None:
        """Bob and Carol both submit the approval modal 25 times at once: one approval row,
        one provider call, one outcome."""
        rid = rig.file("alice", "community tom@example.com locked out")
        message = rig.approval_message(rid)
        bodies = []
        for approver in ("U0BOB", "U0CAROL"):
            open_approval_modal(rig.driver, rig.standin, approver, message)
            bodies.append(submission_body(rig.standin, approver))
        client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=CLICKS))
        with client:
            posts = [
                (
                    lambda body=bodies[i % 2]: client.post(
                        rig.events_url,
                        content=body.encode(),
                        headers=rig.driver.signed_headers(body),
                    )
                )
                for i in range(CLICKS)
            ]
            statuses = storm(posts)
        assert set(statuses) == {200}, statuses
        req = rig.wait_state(rid)
        assert req.state is RequestState.SUCCEEDED, req.outcome_message
        assert approvals(rig.store, rid) == 1
        assert len(rig.sandbox("community").action_calls()) == 1
        actions = audit_actions(rig.store, rid)
        assert actions.count("request.approved") == 1
        assert actions.count("request.dispatching") == 1
        assert actions.count("request.succeeded") == 1
        assert len([m for m in rig.standin.dms("U0ALICE")]) == 1  # told once

    def test_two_replicas_on_postgresql_dispatch_once(self, tmp_path: Path, pg_url: str) -> None:
        """Two `resetbot serve` processes share one PostgreSQL; 50 submissions spread across
        both: one approval row, one provider call."""
        standin = slack_world()
        sandbox = start_sandbox("mighty_networks")
        sandbox.add_user(email="tom@example.com", name="Tom Taylor")
        store = prepare_store(pg_url)
        settings = bot_settings(
            standin, pg_url, {"community": sandbox.settings_dict()}, log_level="INFO"
        )
        replicas = [Served(tmp_path, settings, name=f"replica{i}") for i in (1, 2)]
        drivers: list[SlackDriver] = []
        try:
            for replica in replicas:
                replica.start()
            drivers = [replica.driver(standin) for replica in replicas]
            first = drivers[0]
            first.command("U0ALICE", "community tom@example.com locked out", channel_id=SUPPORT)
            req = wait_for(
                lambda: (r := only_request(store)) and r.approval_ts and r,
                15,
                "the approval message",
            )
            message = approval_message(standin, req)
            bodies = []
            for i, approver in enumerate(("U0BOB", "U0CAROL")):
                open_approval_modal(drivers[i], standin, approver, message)
                bodies.append(submission_body(standin, approver))
            signer = first
            with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=CLICKS)) as client:
                posts = [
                    (
                        lambda body=bodies[i % 2], url=replicas[(i // 2) % 2].events_url: (
                            client.post(
                                url, content=body.encode(), headers=signer.signed_headers(body)
                            )
                        )
                    )
                    for i in range(CLICKS)
                ]
                statuses = storm(posts)
            count("replica_submissions", CLICKS)
            assert set(statuses) == {200}, statuses
            done = wait_for(
                lambda: (r := only_request(store)) and r.state.is_final and r, 20, "the outcome"
            )
            assert done.state is RequestState.SUCCEEDED, done.outcome_message
            assert approvals(store, done.id) == 1
            assert len(sandbox.action_calls()) == 1
            actions = audit_actions(store, done.id)
            assert actions.count("request.approved") == actions.count("request.succeeded") == 1
        finally:
            for driver in drivers:
                driver.close()
            for replica in replicas:
                replica.stop()
            sandbox.stop()
            standin.stop()
            store.dispose()
        for replica in replicas:
            assert "Traceback" not in replica.stderr(), replica.stderr()


class TestSlackRetries:
    """Slack re-delivers when an ack is late; the bot acks at once, so a retry is a duplicate.

    Slash commands and interactivity are not retried by Slack today (only Events API
    deliveries are, which this app does not subscribe to); the middleware that drops retries
    is the defence in depth, and the compare-and-set transitions are the guarantee.
    """

    def test_a_retried_command_files_nothing_twice(self, rig: Rig) -> None:
        rid = rig.file("alice", "community tom@example.com locked out")
        response = rig.driver.command(
            "U0ALICE",
            "community tom@example.com locked out",
            channel_id=SUPPORT,
            delivery=retried(1, "http_timeout"),
        )
        count("slack_retries")
        assert response.status_code == 200
        assert response.headers.get("x-slack-no-retry") == "1"
        rig.settle()
        assert rig.request_ids() == {rid}
        assert len(rig.standin.calls_to("chat.postMessage", channel=SUPPORT)) == 1

    def test_a_retried_submission_decides_nothing_twice(self, rig: Rig) -> None:
        rid = rig.file("alice", "community tom@example.com locked out")
        open_approval_modal(rig.driver, rig.standin, "U0BOB", rig.approval_message(rid))
        body = submission_body(rig.standin, "U0BOB")
        assert rig.driver.post(body).status_code == 200
        for n in (1, 2, 3):
            assert rig.driver.post(body, retried(n, "http_timeout")).status_code == 200
            count("slack_retries")
        assert rig.wait_state(rid).state is RequestState.SUCCEEDED
        assert approvals(rig.store, rid) == 1
        assert len(rig.sandbox("community").action_calls()) == 1

    def test_a_retried_click_opens_no_second_modal(self, rig: Rig) -> None:
        rid = rig.file("alice", "community tom@example.com locked out")
        message = rig.approval_message(rid)
        rig.driver.click("U0BOB", message, blocks.APPROVE_ACTION)
        rig.driver.click(
            "U0BOB", message, blocks.APPROVE_ACTION, delivery=retried(1, "http_timeout")
        )
        count("slack_retries")
        rig.settle()
        assert len(rig.standin.calls_to("views.open")) == 1
        assert rig.request(rid).state is RequestState.PENDING

    def test_a_retry_of_a_submission_that_was_never_processed_is_still_safe(self, rig: Rig) -> None:
        """Even if the retry were processed, the second decision is refused by the store, and
        the approver hears that it was not recorded (the first one was)."""
        rid = rig.file("alice", "community tom@example.com locked out")
        open_approval_modal(rig.driver, rig.standin, "U0BOB", rig.approval_message(rid))
        body = submission_body(rig.standin, "U0BOB")
        first = rig.driver.post(body)
        # A duplicate without the retry header, as a new delivery: the very same bytes would
        # be dropped as a replay before any listener (tests/reliability/test_hardening.py).
        second = rig.driver.post(submission_body(rig.standin, "U0BOB"))
        assert first.status_code == second.status_code == 200
        assert rig.wait_state(rid).state is RequestState.SUCCEEDED
        told = [m.all_text() for m in rig.standin.ephemerals(user="U0BOB")]
        assert sum("was not recorded" in t for t in told) == 1, told
        assert approvals(rig.store, rid) == 1
        assert len(rig.sandbox("community").action_calls()) == 1
