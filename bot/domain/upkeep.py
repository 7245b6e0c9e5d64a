"""What the sweeper keeps true: overdue requests expire, approval messages catch up."""

from __future__ import annotations

from bot.domain import lifecycle
from bot.domain.context import SYSTEM, Context
from bot.domain.lifecycle import Event
from bot.domain.views import RequestView
from bot.store import requests as request_store


class Upkeep:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def expire_due(self) -> list[RequestView]:
        now = self.ctx.clock()
        expired = []
        with self.ctx.store.session() as tx:
            due = request_store.due_to_expire(tx, now)
        for rid in due:
            with self.ctx.store.session() as tx:
                moved = lifecycle.move(
                    tx, rid, Event.EXPIRE, actor=SYSTEM, finished_at=now, message_stale=True
                )
                if moved is not None:
                    expired.append(self.ctx.view(moved))
        return expired

    def stale_messages(self, limit: int = 50) -> list[RequestView]:
        """Requests whose approval message lags their state (Slack was down)."""
        with self.ctx.store.reading() as tx:
            return [self.ctx.view(r) for r in request_store.stale_messages(tx, limit)]

    def mark_message(self, view: RequestView, *, stale: bool) -> None:
        """Remember whether the approval message shows ``view``'s state; no write when the flag
        is already so."""
        if view.message_stale == stale:
            return
        with self.ctx.store.session() as tx:
            request_store.set_message_stale(tx, view.id, stale)
