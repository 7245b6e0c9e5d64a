"""The background half of each interaction, as jobs: ``fn(deps, plain data…)``.

Module-level functions with plain arguments (ids, drafts, views, response URLs), never a
closure or a live client, so ``resetbot serve`` can run them in its worker process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.context.respond import Respond
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.background import calls_provider
from bot.domain.errors import DomainError, WrongState
from bot.domain.ports import NotPosted
from bot.domain.views import Draft, RequestView
from bot.slack import blocks
from bot.slack import mrkdwn as md
from bot.slack.deps import JobDeps
from bot.store.db import StoreError, StoreUnavailable
from bot.store.models import Role
from providers.base import ProviderError

log = logging.getLogger(__name__)

SOMETHING_WRONG = (
    ":x: Something went wrong; it is logged. `/reset-password status` shows "
    "whether a request was filed."
)
STORE_TROUBLE = "The store is unavailable; nothing was done. Please try again later."
NO_DATABASE = (
    ":x: resetbot cannot reach its database just now; please try again in a minute "
    "(`/reset-password status` then shows whether anything was filed or changed)."
)


def answer(deps: JobDeps, response_url: str, work: Callable[..., str], *args: Any) -> None:
    """Replace the command's placeholder with ``work(deps, *args)``'s text (a refusal's, if the
    domain refused)."""
    try:
        text = work(deps, *args)
    except DomainError as exc:
        text = f":warning: {md.escape(str(exc))}"
    except StoreUnavailable:  # down, unreachable, locked past its time-out
        log.exception("answer from %s: database unavailable", getattr(work, "__qualname__", work))
        text = NO_DATABASE
    except StoreError:  # full, read-only
        log.exception("answer from %s: the store failed", getattr(work, "__qualname__", work))
        text = f":x: {STORE_TROUBLE}"
    except Exception:  # a bug: logged; the person must not be left looking at the placeholder
        log.exception("answer from %s failed", getattr(work, "__qualname__", work))
        text = SOMETHING_WRONG
    Respond(response_url=response_url)(text=text, replace_original=True)


def file_and_answer(
    deps: JobDeps, draft: Draft, channel: str | None
) -> tuple[RequestView | None, str]:
    """File the request; the request (None if nothing was filed) and what to tell the
    requester, whatever happened."""
    try:
        view = deps.workflow.file(draft, channel)
    except (DomainError, ProviderError) as exc:
        return None, f":warning: {md.escape(str(exc))} Nothing was filed."
    except NotPosted as exc:
        return None, f":warning: {exc}"
    return view, filed_text(view)


def filed_text(view: RequestView) -> str:
    if not view.approval_ts and view.copies:
        where = "the approvers' direct messages"
    else:
        where = md.channel(view.approval_channel) if view.approval_channel else "the channel"
    return (
        f":inbox_tray: Request {md.code(view.id)} filed: {md.escape(view.description)}. "
        f"It waits for approval in {where} until {md.date(view.expires_at)}."
    )


@calls_provider
def filing(deps: JobDeps, draft: Draft, channel: str | None) -> str:
    return file_and_answer(deps, draft, channel)[1]


@calls_provider
def provider_checks(deps: JobDeps) -> str:
    return blocks.providers_text(deps.queries.provider_status())


def recent_requests(deps: JobDeps, user_id: str) -> str:
    return blocks.request_list(
        "Your recent requests", deps.queries.recent_for(user_id), "You have filed no requests."
    )


def one_request(deps: JobDeps, user_id: str, request_id: str) -> str:
    return blocks.status_text(deps.queries.get(request_id, user_id))


def pending_requests(deps: JobDeps, user_id: str) -> str:
    return blocks.request_list(
        "Pending requests you can decide",
        deps.queries.pending_for(user_id),
        "Nothing is waiting for you.",
    )


def cancel(deps: JobDeps, user_id: str, request_id: str) -> str:
    view = deps.decisions.cancel(request_id, user_id)
    deps.submit(after_cancel, view)
    return f"Request {md.code(view.id)} cancelled."


def roles_list(deps: JobDeps, user_id: str, who: str | None) -> str:
    return blocks.grants_text(deps.role_admin.list_grants(user_id, who))


def roles_change(
    deps: JobDeps, user_id: str, grant: bool, who: str, role: Role, provider: str | None
) -> str:
    scope = md.code(provider) if provider else "all providers"
    who = deps.role_admin.subject(who, role if grant else None)
    if grant:
        changed = deps.role_admin.grant(user_id, who, role, provider)
        verb = "granted" if changed else "already had"
    else:
        changed = deps.role_admin.revoke(user_id, who, role, provider)
        verb = "revoked" if changed else "did not have"
    return f"{md.subject(who)} {verb} {role.value} for {scope}."


def reject_unknown_provider(deps: JobDeps, user_id: str, provider: str, user_text: str) -> None:
    deps.filing.reject_unknown_provider(user_id, provider, user_text)


@calls_provider
def form_filing(
    deps: JobDeps, view_id: str, draft: Draft, channel: str | None, values: dict[str, str]
) -> None:
    """Replace the form's "Looking up…" page with the outcome (the form again on trouble)."""
    try:
        filed, message = file_and_answer(deps, draft, channel)
        if filed is not None:
            page = blocks.notice_modal("Request filed", message)
        else:
            page = blocks.request_modal(
                deps.catalog.menu(),
                channel=channel,
                selected=draft.provider,
                values=values,
                error=message,
            )
    except Exception:  # a bug: logged; the person must not be left looking at "Looking up…"
        log.exception("filing from the form failed")
        page = blocks.notice_modal("Password reset", SOMETHING_WRONG)
    try:
        deps.client.views_update(view_id=view_id, view=page)
    except (SlackApiError, SlackRequestError):
        # The modal was closed meanwhile: answer where the person started instead.
        if channel:
            deps.notifier.ephemeral(channel, draft.requester_id, _page_text(page))


def approve(deps: JobDeps, request_id: str, actor: str, note: str | None) -> None:
    try:
        decision = deps.decisions.approve(request_id, actor, note)
    except (DomainError, StoreError) as exc:
        _not_recorded(deps, request_id, actor, "approval", exc)
        return
    # Recorded: what follows (message, thread, and at quorum the provider call) goes on the
    # provider pool, so recording decisions never waits behind slow provider calls.
    deps.submit(after_decision, decision.request.id, actor, quorum_met=decision.quorum_met)


def deny(deps: JobDeps, request_id: str, actor: str, reason: str) -> None:
    try:
        denied = deps.decisions.deny(request_id, actor, reason)
    except (DomainError, StoreError) as exc:
        _not_recorded(deps, request_id, actor, "denial", exc)
        return
    deps.submit(after_decision, denied.id, actor, quorum_met=False)


def _not_recorded(
    deps: JobDeps, request_id: str, actor: str, what: str, exc: DomainError | StoreError
) -> None:
    """Tell the approver beside the approval message (a DM if there is none to go beside)."""
    why = str(exc) if isinstance(exc, DomainError) else STORE_TROUBLE
    text = f":no_entry: Your {what} was not recorded: {md.escape(why)}"
    try:
        view: RequestView | None = deps.queries.current(request_id)
    except (DomainError, StoreError):
        view = None  # no such request (a forged submission): nothing to go beside
    if view is not None and isinstance(exc, WrongState):
        deps.workflow.refresh(view)  # whatever the message shows is out of date
    channel = view.approval_channel if view is not None else None
    if not (channel and deps.notifier.ephemeral(channel, actor, text)):
        deps.notifier.tell(actor, text)


CONFIRM, REJECT, DISPUTE = "confirm", "reject", "dispute"


def owner_answer(
    deps: JobDeps, request_id: str, user_id: str, answer: str, response_url: str
) -> None:
    """The account owner's Yes, No or "This wasn't me": recorded, their DM replaced with what
    they answered (a refusal instead, when the click is not theirs or comes too late)."""
    try:
        if answer == CONFIRM:
            view, approved = deps.confirmations.confirm(request_id, user_id)
            deps.submit(after_confirm, view.id, approved=approved)
            text = blocks.owner_answer(view)
        elif answer == REJECT:
            view = deps.confirmations.reject(request_id, user_id)
            deps.submit(after_reject, view)
            text = blocks.owner_answer(view)
        else:
            view = deps.confirmations.dispute(request_id, user_id)
            deps.submit(after_dispute, view)
            text = blocks.disputed_answer(view)
    except DomainError as exc:
        _respond(response_url, f":no_entry: {md.escape(str(exc))}", replace=False)
        return
    _respond(response_url, text, replace=True)


def _respond(response_url: str, text: str, *, replace: bool) -> None:
    if not response_url:
        return
    try:
        Respond(response_url=response_url)(
            text=text, replace_original=replace, response_type="ephemeral"
        )
    except (SlackApiError, SlackRequestError, ValueError, OSError) as exc:
        log.warning("could not answer the owner via response_url: %s", type(exc).__name__)


@calls_provider
def after_confirm(deps: JobDeps, request_id: str, *, approved: bool) -> None:
    deps.workflow.after_confirm(request_id, approved=approved)


def after_reject(deps: JobDeps, view: RequestView) -> None:
    deps.workflow.after_reject(view)


def after_dispute(deps: JobDeps, view: RequestView) -> None:
    deps.workflow.after_dispute(view)


@calls_provider
def after_decision(deps: JobDeps, request_id: str, actor: str, *, quorum_met: bool) -> None:
    deps.workflow.after_decision(request_id, actor, quorum_met=quorum_met)


def after_cancel(deps: JobDeps, view: RequestView) -> None:
    deps.workflow.after_cancel(view)
    homes_changed(deps)


def refresh(deps: JobDeps, request_id: str) -> None:
    deps.workflow.refresh_id(request_id)


@calls_provider
def publish_home(deps: JobDeps, user_id: str) -> None:
    """Publish ``user_id``'s Home tab; one that fails to publish never affects a request."""
    try:
        admin = deps.role_admin.is_admin(user_id)
        view = blocks.home_view(
            deps.queries.open_for(user_id),
            deps.queries.pending_for(user_id),
            providers=deps.queries.provider_status() if admin else None,
            grants=deps.role_admin.list_grants(user_id) if admin else None,
        )
        deps.client.views_publish(user_id=user_id, view=view)
    except Exception:
        log.warning("Home tab of %s not published", user_id, exc_info=True)
        return
    deps.notifier.home_viewers.add(user_id)


def home_opened(deps: JobDeps, user_id: str) -> None:
    deps.submit(publish_home, user_id)


def cancel_from_home(deps: JobDeps, user_id: str, request_id: str) -> None:
    """Cancel from the Home tab: done, or the refusal by DM; the Home tab then shows it."""
    try:
        view = deps.decisions.cancel(request_id, user_id)
        deps.submit(after_cancel, view)
    except DomainError as exc:
        deps.notifier.tell(user_id, f":no_entry: {md.escape(str(exc))}")
    deps.submit(publish_home, user_id)


def homes_changed(deps: JobDeps) -> None:
    """A request changed: every Home tab published by this process is published again."""
    for user_id in sorted(deps.notifier.home_viewers):
        deps.submit(publish_home, user_id)


def _page_text(page: dict[str, Any]) -> str:
    first = (page.get("blocks") or [{}])[0]
    return str((first.get("text") or {}).get("text") or "")
