"""Calling the provider for an approved request exactly once, under a lease that a live
process renews; recovering the calls of processes that stopped."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import SecretStr

from bot.domain import lifecycle, policy
from bot.domain.context import SYSTEM, Context
from bot.domain.lifecycle import AuditAction, Event
from bot.domain.views import DispatchOutcome, RequestView
from bot.store import requests as request_store
from bot.store.models import RequestState
from providers.base import Account, OutcomeUnknown, ProviderError

log = logging.getLogger(__name__)

# How a finished call ends the request: the event, by the state it reaches.
_FINISH = {
    RequestState.SUCCEEDED: Event.SUCCEED,
    RequestState.FAILED: Event.FAIL,
    RequestState.UNKNOWN: Event.LOSE_TRACK,
}
INTERRUPTED = (
    "The bot stopped while calling the provider; verify at the provider whether the reset happened."
)


def new_owner() -> str:
    """A name for this process's dispatches: host and pid for people, random for uniqueness."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"


class Dispatching:
    def __init__(self, ctx: Context, *, owner: str | None = None) -> None:
        self.ctx = ctx
        # This process's name on the dispatches it runs; unique per start, so a restarted
        # process never mistakes its predecessor's calls for its own.
        self.owner = owner or new_owner()

    def dispatch(self, request_id: str) -> DispatchOutcome | None:
        """Call the provider for an approved request; None if someone else already did."""
        with self.ctx.store.session() as tx:
            now = self.ctx.clock()
            request = lifecycle.move(
                tx,
                request_id,
                Event.START,
                actor=SYSTEM,
                dispatch_started_at=now,
                dispatch_owner=self.owner,
                dispatch_heartbeat_at=now,
            )
            if request is None:
                return None
            account = Account(request.target_id, request.target_email, request.target_name)
            provider_name, action = request.provider, request.action
            # The owner in Slack receives the secret themself; never the requester then.
            target = request.target_slack_id
            to_target = target is not None and policy.secret_goes_to_target(
                self.ctx.settings, provider_name
            )
            recipient = target if to_target and target else request.requester_id

        secret: SecretStr | None = None
        secret_label: str | None = None
        details: dict[str, Any] = {}
        instance = self.ctx.catalog.get(provider_name)
        if instance is None:
            state, kind = RequestState.FAILED, "not_configured"
            message = f"Provider '{provider_name}' is no longer configured; nothing was done."
        else:
            try:
                result = instance.perform(action, account)
            except OutcomeUnknown as exc:
                state, kind, message = RequestState.UNKNOWN, exc.kind, str(exc)
            except ProviderError as exc:
                state, kind, message = RequestState.FAILED, exc.kind, str(exc)
            except Exception as exc:  # a bug mid-call: we cannot know whether it acted
                log.exception("provider %s raised unexpectedly during %s", provider_name, action)
                state, kind = RequestState.UNKNOWN, "outcome_unknown"
                message = (
                    f"An unexpected error ({type(exc).__name__}) interrupted the call; "
                    "verify at the provider whether it happened."
                )
            else:
                state, kind, message = RequestState.SUCCEEDED, "ok", result.summary
                secret, secret_label, details = result.secret, result.secret_label, result.details
                if secret is not None:
                    label = secret_label or "secret"
                    whom = "the account's owner" if recipient == target else "the requester"
                    message += f" The {label} goes only to {whom}, by direct message."
        finished = self._finish(
            request_id,
            state,
            kind,
            message,
            details,
            secret_recipient=recipient if secret is not None else None,
        )
        return DispatchOutcome(finished, secret, secret_label)

    def _finish(
        self,
        request_id: str,
        state: RequestState,
        kind: str,
        message: str,
        details: Mapping[str, Any],
        *,
        secret_recipient: str | None,
    ) -> RequestView:
        audit = {k: v for k, v in details.items() if k not in {"secret", "message"}}
        with self.ctx.store.session() as tx:
            moved = lifecycle.move(
                tx,
                request_id,
                _FINISH[state],
                actor=SYSTEM,
                outcome=kind,
                audit={
                    "message": message,
                    "secret_issued": secret_recipient is not None,
                    **({"secret_to": secret_recipient} if secret_recipient else {}),
                    **audit,
                },
                finished_at=self.ctx.clock(),
                outcome_kind=kind,
                outcome_message=message,
                secret_recipient=secret_recipient,
            )
            return self.ctx.view(moved or self.ctx.load(tx, request_id))

    def record_secret_delivery(self, request_id: str, *, delivered: bool, why: str = "") -> None:
        with self.ctx.store.session() as tx:
            request = self.ctx.load(tx, request_id)
            if not delivered:
                request.outcome_message = (
                    f"{request.outcome_message or ''} It could not be delivered ({why}); "
                    "file a new request to issue a fresh one."
                ).strip()
            request_store.record(
                tx,
                actor=SYSTEM,
                action=AuditAction.SECRET_DELIVERED
                if delivered
                else AuditAction.SECRET_DELIVERY_FAILED,
                request=request,
                outcome="ok" if delivered else "failed",
                message=why,
            )

    def heartbeat(self) -> int:
        """Renew the lease on every dispatch this process is running; how many there are."""
        with self.ctx.store.session() as tx:
            return request_store.renew_leases(tx, self.owner, self.ctx.clock())

    def lease(self) -> timedelta:
        """How long a dispatch survives without a heartbeat before it counts as abandoned."""
        return timedelta(seconds=self.ctx.settings.dispatch_lease_seconds)

    def stuck_after(self, provider: str) -> timedelta:
        """For a dispatch without heartbeats (started before leases existed): a generous bound
        on how long its call could still be running."""
        instance = self.ctx.settings.providers.get(provider)
        timeout = instance.timeout_seconds if instance else 10.0
        retries = instance.max_retries if instance else 2
        return timedelta(seconds=timeout * (retries + 1) * 2 + 60)

    def recover(self) -> tuple[list[RequestView], list[str]]:
        """Dispatches whose process stopped renewing them → unknown; approved but never
        started → ids to dispatch (the provider was certainly not called for those).

        A live process renews its dispatches every third of the lease however long the
        provider takes, so a replica never reports another replica's running call as unknown.
        """
        now = self.ctx.clock()
        unknown: list[RequestView] = []
        with self.ctx.store.session() as tx:
            rows = request_store.unfinished_dispatches(tx)
        redispatch = []
        for rid, provider, started, beat, state, decided in rows:
            if state is RequestState.APPROVED:
                if decided is None or now - decided > timedelta(seconds=30):
                    redispatch.append(rid)
                continue
            if beat is not None and now - beat < self.lease():
                continue
            if beat is None and started is not None and now - started < self.stuck_after(provider):
                continue
            with self.ctx.store.session() as tx:
                # Only if it was not renewed since it was read: a paused owner may be back.
                moved = lifecycle.move(
                    tx,
                    rid,
                    Event.LOSE_TRACK,
                    actor=SYSTEM,
                    outcome="outcome_unknown",
                    audit={"message": "interrupted mid-call"},
                    guard=request_store.heartbeat_unchanged_since(beat),
                    finished_at=now,
                    outcome_kind="outcome_unknown",
                    outcome_message=INTERRUPTED,
                    message_stale=True,
                )
                if moved is not None:
                    unknown.append(self.ctx.view(moved))
        return unknown, redispatch
