"""Signed Slack deliveries already acted on: a replay is recognised on every replica."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert

from bot.store.db import Store
from bot.store.models import DeliverySeen

# Slack's signatures are good for five minutes; a key is kept a little longer than that.
KEEP = timedelta(minutes=10)
PRUNE_EVERY = 60.0  # seconds, per process

_pruned = [0.0]
_prune_lock = threading.Lock()


# This process's keys and when they were seen (monotonic), oldest first: expired ones are
# dropped from the front, so each delivery costs the same however many are remembered.
_recent: OrderedDict[str, float] = OrderedDict()
_recent_lock = threading.Lock()
_clock = time.monotonic

# Built once: compiling it for every acknowledgement would cost as much as the round trip.
_RECORD = (
    pg_insert(DeliverySeen)
    .values(key=bindparam("key"), seen_at=bindparam("seen_at"))
    .on_conflict_do_nothing(index_elements=[DeliverySeen.key])
    .returning(DeliverySeen.key)
)


def first_delivery(store: Store, keys: list[str], now: datetime) -> bool:
    """``first_here`` and then ``first_everywhere``: True only the first time ``keys`` are seen."""
    return first_here(keys) and first_everywhere(store, keys, now)


def first_here(keys: list[str]) -> bool:
    """Record ``keys`` in this process; False if any was recorded before (a replay to this
    process). In memory, so it costs an acknowledgement nothing measurable."""
    now = _clock()
    oldest = now - KEEP.total_seconds()
    with _recent_lock:
        while _recent and next(iter(_recent.values())) < oldest:
            _recent.popitem(last=False)
        if any(key in _recent for key in keys):
            return False
        for key in keys:
            _recent[key] = now
    return True


def first_everywhere(store: Store, keys: list[str], now: datetime) -> bool:
    """Record ``keys`` in the store, for every replica; False if another recorded one first.

    SQLite is one process's store (several need PostgreSQL), so ``first_here`` has seen all
    there is and this returns True without writing (never queuing for the write lock).
    """
    if store.url.startswith("sqlite"):
        return True
    # One statement per key, each committed on its own: a key another replica recorded
    # first is not inserted, and returns no row.
    for key in keys:
        if not store.write_one(_RECORD, {"key": key, "seen_at": now}):
            return False
    _prune(store, now)
    return True


def _prune(store: Store, now: datetime) -> None:
    with _prune_lock:
        if time.monotonic() - _pruned[0] < PRUNE_EVERY:
            return
        _pruned[0] = time.monotonic()
    with store.session() as s:
        s.execute(delete(DeliverySeen).where(DeliverySeen.seen_at < now - KEEP))
