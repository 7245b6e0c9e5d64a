"""Signed Slack deliveries already acted on: a replay is recognised on every replica."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import datetime, timedelta

from sqlalchemy import delete

from bot.store.db import Store, StoreError, StoreUnavailable
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


def first_delivery(store: Store, keys: list[str], now: datetime) -> bool:
    """Record ``keys``; False if any was recorded before (a replay), True the first time.

    A replay to the same process is caught in memory. SQLite is one process's store (several
    need PostgreSQL), so that is all it needs, and an acknowledgement never queues for SQLite's
    write lock; on PostgreSQL the keys are also inserted, so every replica sees them.
    """
    if not _first_here(keys):
        return False
    if store.url.startswith("sqlite"):
        return True
    try:
        with store.session() as s:
            s.add_all([DeliverySeen(key=key, seen_at=now) for key in keys])
    except StoreUnavailable:
        raise
    except StoreError:  # the primary key is taken: this delivery was seen
        return False
    _prune(store, now)
    return True


def _first_here(keys: list[str]) -> bool:
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


def _prune(store: Store, now: datetime) -> None:
    with _prune_lock:
        if time.monotonic() - _pruned[0] < PRUNE_EVERY:
            return
        _pruned[0] = time.monotonic()
    with store.session() as s:
        s.execute(delete(DeliverySeen).where(DeliverySeen.seen_at < now - KEEP))
