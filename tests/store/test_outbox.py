"""The audit outbox: written with its audit row, claimed head-first per request, safely."""

from __future__ import annotations

from datetime import timedelta

import httpx

from bot import metrics
from bot.config import AuditWebhook
from bot.store import outbox
from bot.store import requests as request_store
from bot.store.db import Store
from bot.store.models import utcnow
from bot.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSender, sign

LEASE = timedelta(seconds=30)


def record(store: Store, n: int = 1) -> None:
    """``n`` role events: they concern no request, so they share one stream ("")."""
    for _ in range(n):
        with store.session() as tx:
            request_store.record(tx, actor="U1", action="role.granted", target="U2")


def test_nothing_is_queued_without_the_webhook(store: Store) -> None:
    """With the webhook off, audit events go only to the audit log."""
    store.outbox = False
    record(store)
    assert outbox.backlog(store)[0] == 0


def test_rolled_back_events_are_neither_queued_nor_counted(store: Store) -> None:
    """A transaction that fails records nothing: no outbox entry, no counter moves."""
    store.outbox = True
    metrics.set_providers(["community"])
    counter = metrics.REQUESTS_FILED.labels("community")
    before = counter._value.get()
    try:
        with store.session() as tx:
            request_store.record(tx, actor="U1", action="request.filed", provider="community")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert outbox.backlog(store)[0] == 0
    assert counter._value.get() == before
    with store.session() as tx:
        request_store.record(tx, actor="U1", action="request.filed", provider="community")
    assert outbox.backlog(store)[0] == 1
    assert counter._value.get() == before + 1


def test_only_the_head_of_a_stream_is_claimed_once(store: Store) -> None:
    """Two senders never hold the same entry, and a stream's second event waits for its first."""
    store.outbox = True
    record(store, 3)
    now = utcnow()
    first = outbox.claim(store, "a", now, limit=10, lease=LEASE)
    assert [d.event["id"] for d in first] == ["1"]
    assert outbox.claim(store, "b", now, limit=10, lease=LEASE) == []
    outbox.delivered(store, first[0].outbox_id)
    second = outbox.claim(store, "b", now, limit=10, lease=LEASE)
    assert [d.event["id"] for d in second] == ["2"]
    # A failed attempt waits for its backoff, and the stream behind it waits too.
    outbox.retry_later(store, second[0].outbox_id, "b", now + timedelta(seconds=5), "HTTP 500")
    assert outbox.claim(store, "c", now, limit=10, lease=LEASE) == []
    later = outbox.claim(store, "c", now + timedelta(seconds=6), limit=10, lease=LEASE)
    assert [(d.event["id"], d.attempts) for d in later] == [("2", 1)]
    # A sender that died holding a claim loses it when the lease runs out.
    again = outbox.claim(store, "d", now + LEASE + timedelta(seconds=7), limit=10, lease=LEASE)
    assert [d.event["id"] for d in again] == ["2"]


def test_sender_signs_and_retries_until_the_receiver_answers(store: Store) -> None:
    """Every POST carries a valid signature; a 500 leaves the event queued for a retry."""
    store.outbox = True
    record(store, 2)
    seen: list[httpx.Request] = []
    answers = iter([500, 200, 200])

    def receive(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(next(answers))

    secret = "s" * 20
    webhook = AuditWebhook(url="http://receiver.test/events", secret=secret)  # type: ignore[arg-type]
    clock = [utcnow()]
    sender = WebhookSender(
        store, webhook, transport=httpx.MockTransport(receive), clock=lambda: clock[0]
    )
    try:
        assert sender.deliver_once() is False
        assert outbox.backlog(store)[0] == 2
        clock[0] += timedelta(seconds=120)
        sender.deliver_once()  # the first event; the second is the head only after it
        sender.deliver_once()
        assert outbox.backlog(store)[0] == 0
    finally:
        sender.close()
    for request in seen:
        stamp = request.headers[TIMESTAMP_HEADER]
        assert request.headers[SIGNATURE_HEADER] == sign(secret, stamp, request.content)
    assert seen[0].content == seen[1].content  # the retry is the same event
