"""What the sweeper keeps true: overdue requests expire, approval messages catch up."""

from __future__ import annotations

from datetime import timedelta

from bot.domain import lifecycle, policy
from bot.domain.context import SYSTEM, Context
from bot.domain.lifecycle import Event
from bot.domain.ports import GroupCheckFailed
from bot.domain.views import RequestView
from bot.store import requests as request_store
from bot.store import roles as role_store


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

    def due_reminders(self) -> list[tuple[RequestView, list[str]]]:
        """Pending requests nobody decided within ``remind_after_minutes``, each claimed once
        (whatever the number of replicas), with who can decide them."""
        return [
            (view, self.deciders(view, with_config_admins=False))
            for view in self._claim_overdue("reminded_at", "remind_after_minutes")
        ]

    def due_escalations(self) -> list[RequestView]:
        return self._claim_overdue("escalated_at", "escalate_after_minutes")

    def _claim_overdue(self, column: str, setting: str) -> list[RequestView]:
        now = self.ctx.clock()
        claimed = []
        for name, instance in self.ctx.settings.providers.items():
            minutes = float(getattr(instance, setting))
            if not minutes:
                continue
            with self.ctx.store.reading() as tx:
                due = request_store.overdue(tx, name, now - timedelta(minutes=minutes), column)
            for rid in due:
                with self.ctx.store.session() as tx:
                    if request_store.claim(tx, rid, column, now):
                        claimed.append(self.ctx.view(self.ctx.load(tx, rid)))
        return claimed

    def deciders(self, view: RequestView, *, with_config_admins: bool = True) -> list[str]:
        """Who can decide ``view`` now: approvers and admins for its provider (group members
        included) and the config's admins, never its requester (unless the provider allows
        self-approval)."""
        with self.ctx.store.reading() as tx:
            subjects = set(role_store.deciders(tx, view.provider))
        people = {s for s in subjects if not s.startswith(role_store.GROUP_PREFIX)}
        for group in subjects - people:
            try:
                people |= self.ctx.group_members(group)
            except GroupCheckFailed:
                people.add(group)  # named as the group, for a reminder to mention
        if with_config_admins:
            people |= set(self.ctx.settings.admins)
        if not policy.self_approval_allowed(self.ctx.settings, view.provider):
            people.discard(view.requester_id)
        return sorted(people)

    def record_copy(self, request_id: str, purpose: str, channel: str, ts: str) -> None:
        """Remember a copy of the approval message, to keep it up to date."""
        with self.ctx.store.session() as tx:
            request_store.add_copy(tx, request_id, purpose, channel, ts)

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
