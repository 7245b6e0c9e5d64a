"""Deciding a request: approve (towards its quorum), deny, cancel; each re-checked as it is
written, whatever the buttons showed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bot.domain import lifecycle, policy
from bot.domain.context import Context
from bot.domain.errors import InvalidInput, NotAllowed, WrongState
from bot.domain.lifecycle import AuditAction, Event
from bot.domain.text import MAX_NOTE, clean_text
from bot.domain.views import Decision, RequestView
from bot.store import requests as request_store
from bot.store.db import Tx
from bot.store.models import RequestState, ResetRequest


class Decisions:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _check_decider(self, tx: Tx, request: ResetRequest, actor: str) -> None:
        if request.state is RequestState.PENDING and request.expires_at <= self.ctx.clock():
            raise WrongState(f"Request {request.id} has expired; nothing to decide.")
        if request.state is not RequestState.PENDING:
            raise WrongState(f"Request {request.id} is {request.state.value}; nothing to decide.")
        if not self.ctx.may_decide(tx, actor, request.provider):
            raise NotAllowed(
                f"You can't decide requests for '{request.provider}': that needs the approver "
                "role for it."
            )
        if actor == request.requester_id and not policy.self_approval_allowed(
            self.ctx.settings, request.provider
        ):
            raise NotAllowed("You can't decide your own request; another approver must.")
        if any(a.approver_id == actor for a in request.approvals):
            raise NotAllowed("You have already approved this request; it needs someone else.")

    @contextmanager
    def _refusals_audited(self, request_id: str, actor: str, what: str) -> Iterator[None]:
        """Every refusal is on the record, in its own transaction (the refused one rolls back)."""
        try:
            yield
        except NotAllowed as exc:
            self._audit_refusal(request_id, actor, what, exc)
            raise

    def _audit_refusal(self, request_id: str, actor: str, what: str, exc: NotAllowed) -> None:
        with self.ctx.store.session() as tx:
            request = self.ctx.load(tx, request_id)
            request_store.record(
                tx,
                actor=actor,
                action=AuditAction.REFUSED,
                request=request,
                outcome="not_allowed",
                attempted=what,
                message=str(exc),
            )

    def check_decider(self, request_id: str, actor: str) -> RequestView:
        """Whether ``actor`` may decide now; raises with the reason when not (nothing changes)."""
        self.ctx.expire_if_due(request_id)
        with self._refusals_audited(request_id, actor, "decide"), self.ctx.store.reading() as tx:
            request = self.ctx.load(tx, request_id)
            self._check_decider(tx, request, actor)
            return self.ctx.view(request)

    def approve(self, request_id: str, actor: str, note: str | None = None) -> Decision:
        with self._refusals_audited(request_id, actor, "approve"):
            return self._approve(request_id, actor, note)

    def _approve(self, request_id: str, actor: str, note: str | None) -> Decision:
        note = clean_text(note or "", limit=MAX_NOTE) or None
        self.ctx.expire_if_due(request_id)
        with self.ctx.store.session() as tx:
            # The row lock makes concurrent approvals by different people count each other.
            request = self.ctx.load(tx, request_id, lock=True)
            self._check_decider(tx, request, actor)
            count = request_store.add_approval(tx, request, actor, note, self.ctx.clock())
            if count is None:
                # The same person's second click raced the first.
                raise NotAllowed("You have already approved this request.")
            request_store.record(
                tx,
                actor=actor,
                action=AuditAction.APPROVAL_ADDED,
                request=request,
                outcome=f"{count}/{request.approvals_required}",
                note=note,
            )
            # The quorum moves the request on only once its owner has confirmed, where asked.
            quorum = policy.quorum_met(count, request.approvals_required) and (
                policy.owner_agrees(request.confirmation)
            )
            if quorum:
                moved = lifecycle.move(
                    tx,
                    request.id,
                    Event.APPROVE,
                    actor=actor,
                    decided_by=actor,
                    decided_at=self.ctx.clock(),
                    decision_note=note,
                )
                if moved is None:
                    raise WrongState(f"Request {request.id} was decided meanwhile.")
            tx.refresh(request)
            return Decision(self.ctx.view(request), quorum)

    @staticmethod
    def deny_reason(reason: str) -> str:
        """The reason a denial must give, cleaned; InvalidInput without one (no database)."""
        reason = clean_text(reason, limit=MAX_NOTE + 1)
        if len(reason) < 3:
            raise InvalidInput("Say why you deny it (the requester sees this).", field="reason")
        if len(reason) > MAX_NOTE:
            raise InvalidInput(f"Keep the reason under {MAX_NOTE} characters.", field="reason")
        return reason

    def deny(self, request_id: str, actor: str, reason: str) -> RequestView:
        reason = self.deny_reason(reason)
        with self._refusals_audited(request_id, actor, "deny"):
            return self._deny(request_id, actor, reason)

    def _deny(self, request_id: str, actor: str, reason: str) -> RequestView:
        self.ctx.expire_if_due(request_id)
        with self.ctx.store.session() as tx:
            request = self.ctx.load(tx, request_id, lock=True)
            self._check_decider(tx, request, actor)
            now = self.ctx.clock()
            moved = lifecycle.move(
                tx,
                request.id,
                Event.DENY,
                actor=actor,
                audit={"reason": reason},
                decided_by=actor,
                decided_at=now,
                decision_note=reason,
                finished_at=now,
            )
            if moved is None:
                raise WrongState(f"Request {request.id} was decided meanwhile.")
            return self.ctx.view(moved)

    def cancel(self, request_id: str, actor: str) -> RequestView:
        with self._refusals_audited(request_id, actor, "cancel"):
            return self._cancel(request_id, actor)

    def _cancel(self, request_id: str, actor: str) -> RequestView:
        self.ctx.expire_if_due(request_id)
        with self.ctx.store.session() as tx:
            request = self.ctx.load(tx, request_id, lock=True)
            is_requester = request.requester_id == actor
            if not policy.may_cancel(
                self.ctx.roles(tx, actor, request.provider), is_requester=is_requester
            ):
                raise NotAllowed("Only the requester or an admin can cancel a request.")
            if request.state is not RequestState.PENDING or request.expires_at <= self.ctx.clock():
                raise WrongState(
                    f"Request {request.id} is {request.state.value}; only pending requests "
                    "can be cancelled."
                )
            now = self.ctx.clock()
            moved = lifecycle.move(
                tx,
                request.id,
                Event.CANCEL,
                actor=actor,
                decided_by=actor,
                decided_at=now,
                finished_at=now,
            )
            if moved is None:
                raise WrongState(f"Request {request.id} was decided meanwhile.")
            return self.ctx.view(moved)
