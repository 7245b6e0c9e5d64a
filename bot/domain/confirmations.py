"""The account owner's word: asked before anything is done, and told after; only they can
answer, and a "No" ends the request for good."""

from __future__ import annotations

from bot.domain import lifecycle, policy
from bot.domain.context import SYSTEM, Context
from bot.domain.errors import NotAllowed, WrongState
from bot.domain.lifecycle import AuditAction, Event
from bot.domain.views import RequestView
from bot.store import requests as request_store
from bot.store.db import Tx
from bot.store.models import Confirmation, RequestState, ResetRequest

NOT_OPEN = "This request is no longer open; nothing changed."


class Confirmations:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def asked(self, request_id: str, *, delivered: bool) -> RequestView:
        """Record whether the owner's confirmation DM went out. One that could not be delivered
        leaves a request whose provider requires confirmation undecidable: it is cancelled."""
        with self.ctx.store.session() as tx:
            request = self.ctx.load(tx, request_id)
            if delivered:
                request_store.record(
                    tx, actor=SYSTEM, action=AuditAction.TARGET_ASKED, request=request
                )
                return self.ctx.view(request)
            request_store.set_confirmation(
                tx, request.id, Confirmation.AWAITING, Confirmation.UNREACHABLE
            )
            request = self.ctx.load(tx, request_id)
            request_store.record(
                tx, actor=SYSTEM, action=AuditAction.TARGET_UNREACHABLE, request=request
            )
            required = policy.verify_target(
                self.ctx.settings, request.provider, privileged=request.privileged
            )
            if required == "required":
                why = "the account's owner could not be asked to confirm (their DM failed)"
                moved = lifecycle.move(
                    tx,
                    request.id,
                    Event.CANCEL,
                    actor=SYSTEM,
                    outcome="target_unreachable",
                    audit={"message": why},
                    finished_at=self.ctx.clock(),
                    outcome_kind="target_unreachable",
                    outcome_message=f"Cancelled: {why}.",
                )
                if moved is not None:
                    return self.ctx.view(moved)
            return self.ctx.view(self.ctx.load(tx, request_id))

    def _owners_open_request(self, tx: Tx, request_id: str, actor: str) -> ResetRequest:
        request = self.ctx.load(tx, request_id, lock=True)
        if request.target_slack_id is None or request.target_slack_id != actor:
            raise NotAllowed("Only the person whose password it is can answer this.")
        if request.state is not RequestState.PENDING or request.expires_at <= self.ctx.clock():
            raise WrongState(NOT_OPEN)
        if request.confirmation != Confirmation.AWAITING:
            raise WrongState(
                NOT_OPEN
                if request.confirmation != "confirmed"
                else "You already confirmed this request; nothing changed."
            )
        return request

    def confirm(self, request_id: str, actor: str) -> tuple[RequestView, bool]:
        """The owner says the request is theirs; whether it is now approved (its quorum was
        already met), ready to dispatch."""
        self.ctx.expire_if_due(request_id)
        with self.ctx.store.session() as tx:
            request = self._owners_open_request(tx, request_id, actor)
            now = self.ctx.clock()
            if not request_store.set_confirmation(
                tx, request.id, Confirmation.AWAITING, Confirmation.CONFIRMED, confirmed_at=now
            ):
                raise WrongState(NOT_OPEN)
            request = self.ctx.load(tx, request_id)
            request_store.record(
                tx, actor=actor, action=AuditAction.TARGET_CONFIRMED, request=request
            )
            approved = False
            if policy.quorum_met(len(request.approvals), request.approvals_required):
                last = request.approvals[-1]
                moved = lifecycle.move(
                    tx,
                    request.id,
                    Event.APPROVE,
                    actor=actor,
                    audit={"after": "target confirmed"},
                    decided_by=last.approver_id,
                    decided_at=now,
                    decision_note=last.note,
                )
                approved = moved is not None
            return self.ctx.view(self.ctx.load(tx, request_id)), approved

    def reject(self, request_id: str, actor: str) -> RequestView:
        """The owner says they did not ask: the request ends, never to be dispatched."""
        self.ctx.expire_if_due(request_id)
        with self.ctx.store.session() as tx:
            request = self._owners_open_request(tx, request_id, actor)
            now = self.ctx.clock()
            moved = lifecycle.move(
                tx,
                request.id,
                Event.TARGET_REJECTS,
                actor=actor,
                decided_by=actor,
                decided_at=now,
                finished_at=now,
                decision_note="The account's owner said they did not ask for this.",
            )
            if moved is None:
                raise WrongState(NOT_OPEN)
            return self.ctx.view(moved)

    def notified(self, request_id: str) -> None:
        with self.ctx.store.session() as tx:
            request = self.ctx.load(tx, request_id)
            request_store.record(
                tx, actor=SYSTEM, action=AuditAction.TARGET_NOTIFIED, request=request
            )

    def dispute(self, request_id: str, actor: str) -> RequestView:
        """The owner says, after the reset, that it was not them: recorded once, for people to
        act on (the reset itself cannot be undone here)."""
        with self.ctx.store.session() as tx:
            request = self.ctx.load(tx, request_id, lock=True)
            if request.target_slack_id != actor:
                raise NotAllowed("Only the person whose password it is can answer this.")
            if request.disputed_at is not None:
                raise WrongState("You have already reported this; the security team has it.")
            request_store.update_request(tx, request.id, disputed_at=self.ctx.clock())
            request = self.ctx.load(tx, request_id)
            request_store.record(
                tx, actor=actor, action=AuditAction.TARGET_DISPUTED, request=request
            )
            return self.ctx.view(request)
