"""What every part of the life-cycle shares: settings, store, providers, clock, and the reads
each decision starts from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.config import Settings
from bot.domain import lifecycle, policy
from bot.domain.catalog import Catalog
from bot.domain.errors import NotAllowed, RequestNotFound
from bot.domain.ids import normalize_request_id
from bot.domain.ports import GroupCheckFailed, Teams
from bot.domain.views import RequestView, request_view
from bot.store import requests as request_store
from bot.store import roles as role_store
from bot.store.db import Store, Tx
from bot.store.models import RequestState, ResetRequest, Role, utcnow

SYSTEM = "system"  # the actor of what the bot does on its own (expiry, dispatch, recovery)


@dataclass(frozen=True)
class Context:
    settings: Settings
    store: Store
    catalog: Catalog
    clock: Callable[[], datetime] = field(default=utcnow)
    teams: Teams | None = None  # the workspace's user groups, for group grants

    def roles(self, tx: Tx, user_id: str, provider: str | None) -> set[Role]:
        """The effective roles of ``user_id`` for one provider instance (None: the bot as a
        whole, where only grants covering every provider count), inside a transaction."""
        held = role_store.held(tx, user_id, provider)
        return policy.effective(held, user_id, self.settings.admins)

    def may_decide(self, tx: Tx, user_id: str, provider: str) -> bool:
        """Approver or admin for ``provider``, personally or as a member of a user group granted
        the approver role (asked of Slack now, recently cached). A failed membership check
        refuses, never allows."""
        if policy.may_decide(self.roles(tx, user_id, provider)):
            return True
        groups = role_store.group_deciders(tx, provider)
        if not groups:
            return False
        try:
            return any(user_id in self.group_members(group) for group in groups)
        except GroupCheckFailed:
            raise NotAllowed(
                "I could not check your user group membership in Slack; please try again."
            ) from None

    def group_members(self, group_id: str) -> frozenset[str]:
        if self.teams is None:
            raise GroupCheckFailed("no Slack workspace to ask")
        return self.teams.members(group_id)

    def read_roles(self, user_id: str, provider: str | None) -> set[Role]:
        """``roles`` as one statement outside any transaction, for checks made before anything
        is written; whatever then changes state checks again in its own transaction."""
        held = role_store.read_held(self.store, user_id, provider)
        return policy.effective(held, user_id, self.settings.admins)

    def load(self, tx: Tx, request_id: str, *, lock: bool = False) -> ResetRequest:
        rid = normalize_request_id(request_id)
        request = request_store.load(tx, rid, lock=lock) if rid is not None else None
        if request is None:
            raise RequestNotFound(f"There is no request `{request_id[:20]}`.")
        return request

    def view(self, request: ResetRequest) -> RequestView:
        view = request_view(request, self.catalog)
        if view.secret_label is None:
            return view
        to_owner = view.target_slack_id and policy.secret_goes_to_target(
            self.settings, view.provider
        )
        return replace(view, secret_to=view.target_slack_id if to_owner else view.requester_id)

    def current(self, request_id: str) -> RequestView:
        """The request's state now, for rendering; no permission check (never shown on
        request)."""
        with self.store.reading() as tx:
            return self.view(self.load(tx, request_id))

    def expire_if_due(self, request_id: str) -> None:
        """Expire an overdue request in its own transaction, so a refusal cannot roll it back."""
        with self.store.reading() as tx:
            request = self.load(tx, request_id)
            if request.state is not RequestState.PENDING or request.expires_at > self.clock():
                return  # the common case takes no write lock
        with self.store.session() as tx:
            request = self.load(tx, request_id)
            if request.state is RequestState.PENDING and request.expires_at <= self.clock():
                lifecycle.move(
                    tx,
                    request.id,
                    lifecycle.Event.EXPIRE,
                    actor=SYSTEM,
                    finished_at=self.clock(),
                    message_stale=True,
                )
