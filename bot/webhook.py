"""The audit webhook: POSTs every audit event from the store's outbox, signed, in order per
request, at least once, backing off while the receiver is failing."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from bot import metrics
from bot.config import AuditWebhook
from bot.store import outbox
from bot.store.db import Store, StoreError
from bot.store.models import utcnow

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Resetbot-Request-Timestamp"
SIGNATURE_HEADER = "X-Resetbot-Signature"
BATCH = 50
POLL_SECONDS = 1.0  # how soon an event recorded by another process goes out
TIMEOUT_SECONDS = 10.0
LEASE = timedelta(seconds=60)  # longer than a batch's POSTs take while the receiver answers
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 60.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256(secret, "v1:<timestamp>:<body>")>``."""
    mac = hmac.new(secret.encode(), f"v1:{timestamp}:".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones: doubling, capped, jittered."""
    delay = min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX)
    return float(delay * random.uniform(0.8, 1.0))


class WebhookSender:
    """Delivers the outbox in a thread of its own until ``close``."""

    def __init__(
        self,
        store: Store,
        webhook: AuditWebhook,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._url = str(webhook.url)
        self._secret = webhook.secret
        self._clock = clock
        self._client = httpx.Client(timeout=TIMEOUT_SECONDS, transport=transport)
        self._owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{id(self):x}"[:64]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="resetbot-audit-webhook")
        self._thread.daemon = True

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=TIMEOUT_SECONDS + 5)
        self._client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.deliver_once()
            except StoreError:
                log.exception("audit webhook: the store failed; retrying")
                busy = False
            if not busy and self._stop.wait(POLL_SECONDS):
                return

    def deliver_once(self) -> bool:
        """Send one batch; True if there may be more to send right away."""
        batch = outbox.claim(self._store, self._owner, self._clock(), limit=BATCH, lease=LEASE)
        for n, delivery in enumerate(batch):
            if self._stop.is_set():
                outbox.release(self._store, [d.outbox_id for d in batch[n:]], self._owner)
                return False
            error = self._post(delivery.event)
            if error is None:
                outbox.delivered(self._store, delivery.outbox_id)
                metrics.WEBHOOK_DELIVERIES.labels("delivered").inc()
                continue
            metrics.WEBHOOK_DELIVERIES.labels("retried").inc()
            attempts = delivery.attempts + 1
            delay = backoff(attempts)
            log.warning(
                "audit webhook: event %s not delivered (%s); attempt %d, next in %.1f s",
                delivery.event["id"],
                error,
                attempts,
                delay,
                extra={"request_id": delivery.event["request_id"]},
            )
            at = self._clock() + timedelta(seconds=delay)
            outbox.retry_later(self._store, delivery.outbox_id, self._owner, at, error)
            # The receiver is failing: the rest wait for the next round instead of each
            # spending a time-out on it now.
            outbox.release(self._store, [d.outbox_id for d in batch[n + 1 :]], self._owner)
            return False
        return len(batch) == BATCH

    def _post(self, event: dict[str, Any]) -> str | None:
        """None once the receiver answered 2xx; otherwise what went wrong, for the log."""
        body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret.get_secret_value(), timestamp, body),
        }
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"
