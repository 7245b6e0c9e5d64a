"""Signed Slack deliveries already acted on: a replay is recognised on every replica."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import delete

from bot.store.db import Store, StoreError, StoreUnavailable
from bot.store.models import DeliverySeen

# Slack's signatures are good for five minutes; a key is kept a little longer than that.
KEEP = timedelta(minutes=10)
PRUNE_EVERY = 60.0  # seconds, per process

_pruned = [0.0]
_prune_lock = threading.Lock()


def first_delivery(store: Store, keys: list[str], now: datetime) -> bool:
    """Record ``keys``; False if any was recorded before (a replay), True the first time."""
    try:
        with store.session() as s:
            s.add_all([DeliverySeen(key=key, seen_at=now) for key in keys])
    except StoreUnavailable:
        raise
    except StoreError:  # the primary key is taken: this delivery was seen
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
