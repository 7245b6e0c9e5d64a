"""Sessions: reads on SQLite take no write lock, so they never queue behind a writer."""

from __future__ import annotations

import time
from pathlib import Path

from bot.store.db import Store
from bot.store.migrate import upgrade
from bot.store.models import RoleGrant


def test_a_read_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    store = Store(url)
    try:
        with store.session() as writer:  # BEGIN IMMEDIATE: holds the write lock
            writer.add(RoleGrant(slack_user_id="U1", role="approver", granted_by="U0"))
            writer.flush()
            started = time.monotonic()
            with store.reading() as reader:
                assert reader.query(RoleGrant).count() == 0  # sees the last commit only
            assert time.monotonic() - started < 1.0
        with store.reading() as reader:
            assert reader.query(RoleGrant).count() == 1
    finally:
        store.dispose()
