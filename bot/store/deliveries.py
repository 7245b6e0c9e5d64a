"""Signed Slack deliveries already acted on: a replay is recognised on every replica."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, text

from bot.store.db import Store
from bot.store.models import DeliverySeen

# Slack's signatures are good for five minutes; a key is kept a little longer than that.
KEEP = timedelta(minutes=10)
PRUNE_EVERY = 60.0  # seconds, per process

_pruned = [0.0]
_prune_lock = threading.Lock()


# This process's keys, in sets by when they were first seen (BUCKET seconds each), oldest
# first: expired sets are dropped from the front, so each delivery costs the same however many
# are remembered, and a key costs little more than its string (a rate of deliveries is kept
# for KEEP, however high).
BUCKET = 10.0
_buckets: deque[tuple[float, set[str]]] = deque()
_recent_lock = threading.Lock()
_clock = time.monotonic

log = logging.getLogger(__name__)

# One statement for any number of keys; a key another replica recorded first is not
# inserted and comes back in no row.
_RECORD = text(
    "INSERT INTO deliveries_seen (key, seen_at) SELECT k, :at FROM unnest(CAST(:keys AS text[]))"
    " AS k ON CONFLICT (key) DO NOTHING RETURNING key"
)


def first_here(keys: list[str]) -> bool:
    """Record ``keys`` in this process; False if any was recorded before (a replay to this
    process). In memory, so it costs an acknowledgement nothing measurable. A key is kept
    between KEEP - BUCKET and KEEP seconds, either way longer than a signature is good for."""
    now = _clock()
    with _recent_lock:
        while _buckets and _buckets[0][0] < now - KEEP.total_seconds():
            _buckets.popleft()
        if any(key in seen for _, seen in _buckets for key in keys):
            return False
        if not _buckets or now - _buckets[-1][0] >= BUCKET:
            _buckets.append((now, set()))
        _buckets[-1][1].update(keys)
    return True


def remembered() -> int:
    """How many keys this process holds in memory."""
    with _recent_lock:
        return sum(len(seen) for _, seen in _buckets)


def forget() -> None:
    """Empty this process's memory, as another process's is (tests)."""
    with _recent_lock:
        _buckets.clear()


def record_many(store: Store, batch: list[list[str]], now: datetime) -> list[bool]:
    """Record each delivery's keys in the store, for every replica, in one round trip: for
    each, in order, False if another replica recorded one of its keys first. PostgreSQL only:
    SQLite is one process's store, so ``first_here`` has seen all there is.
    """
    keys = [key for delivery in batch for key in delivery]
    recorded = {row[0] for row in store.write_one(_RECORD, {"keys": keys, "at": now})}
    _prune(store, now)
    return [all(key in recorded for key in delivery) for delivery in batch]


class SharedCheck:
    """``record_many`` off the request's thread: ``check(keys, then)`` returns at once
    and ``then(first)`` runs once the store has answered.

    One thread records what has queued up meanwhile in one statement, so a burst of deliveries
    costs a round trip per batch, not per delivery, and no connection waits for one.
    """

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock
        self._pending: list[tuple[list[str], Callable[[bool], None]]] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def check(self, keys: list[str], then: Callable[[bool], None]) -> None:
        with self._wake:
            self._pending.append((keys, then))
            if self._thread is None or not self._thread.is_alive():
                # Started by the first delivery, so in the process that serves (after a fork).
                self._thread = threading.Thread(
                    target=self._run, name="resetbot-replays", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: bool(self._pending))
                batch, self._pending = self._pending, []
            try:
                first = record_many(self._store, [keys for keys, _ in batch], self._clock())
            except Exception:
                # The store cannot be reached: then the work cannot act either, and it tells
                # the person the database is unavailable.
                log.warning("replay check across replicas skipped: the store failed", exc_info=True)
                first = [True] * len(batch)
            for (_, then), ok in zip(batch, first, strict=True):
                try:
                    then(ok)
                except Exception:
                    log.exception("starting a delivery's work failed")


def _prune(store: Store, now: datetime) -> None:
    with _prune_lock:
        if time.monotonic() - _pruned[0] < PRUNE_EVERY:
            return
        _pruned[0] = time.monotonic()
    with store.session() as s:
        s.execute(delete(DeliverySeen).where(DeliverySeen.seen_at < now - KEEP))
