"""The background half of each interaction, as jobs: ``fn(runtime, plain data…)``.

Module-level functions with plain arguments (ids, drafts, views, response URLs), never a
closure or a live client, so ``resetbot serve`` can run them in its worker process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.context.respond import Respond
from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlalchemy.exc import OperationalError

from bot.background import calls_provider
from bot.domain.errors import DomainError, WrongState
from bot.domain.service import Draft, RequestView
from bot.slack import blocks
from bot.slack import mrkdwn as md
from bot.store.models import Role

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

SOMETHING_WRONG = (
    ":x: Something went wrong; it is logged. `/reset-password status` shows "
    "whether a request was filed."
)
NO_DATABASE = (
    ":x: resetbot cannot reach its database just now; please try again in a minute "
    "(`/reset-password status` then shows whether anything was filed or changed)."
)


def answer(rt: Runtime, response_url: str, work: Callable[..., str], *args: Any) -> None:
    """Replace the command's placeholder with ``work(rt, *args)``'s text (a refusal's, if the
    domain refused)."""
    try:
        text = work(rt, *args)
    except DomainError as exc:
        text = f":warning: {md.escape(str(exc))}"
    except OperationalError:  # down, unreachable, locked past its time-out
        log.exception("answer from %s: database unavailable", getattr(work, "__qualname__", work))
        text = NO_DATABASE
    except Exception:  # a bug: logged; the person must not be left looking at the placeholder
        log.exception("answer from %s failed", getattr(work, "__qualname__", work))
        text = SOMETHING_WRONG
    Respond(response_url=response_url)(text=text, replace_original=True)


@calls_provider
def filing(rt: Runtime, draft: Draft, channel: str | None) -> str:
    return rt.workflows.file_and_answer(draft, channel)[1]


@calls_provider
def provider_checks(rt: Runtime) -> str:
    return blocks.providers_text(rt.service.provider_status())


def recent_requests(rt: Runtime, user_id: str) -> str:
    return blocks.request_list(
        "Your recent requests", rt.service.recent_for(user_id), "You have filed no requests."
    )


def one_request(rt: Runtime, user_id: str, request_id: str) -> str:
    return blocks.status_text(rt.service.get(request_id, user_id))


def pending_requests(rt: Runtime, user_id: str) -> str:
    return blocks.request_list(
        "Pending requests you can decide",
        rt.service.pending_for(user_id),
        "Nothing is waiting for you.",
    )


def cancel(rt: Runtime, user_id: str, request_id: str) -> str:
    view = rt.service.cancel(request_id, user_id)
    rt.submit(after_cancel, view)
    return f"Request {md.code(view.id)} cancelled."


def roles_list(rt: Runtime, user_id: str, who: str | None) -> str:
    grants = rt.service.list_grants(user_id, who)
    admins = [a for a in rt.settings.admins if who in (None, a)]
    return blocks.grants_text(grants, admins)


def roles_change(
    rt: Runtime, user_id: str, grant: bool, who: str, role: Role, provider: str | None
) -> str:
    scope = md.code(provider) if provider else "all providers"
    if grant:
        changed = rt.service.grant(user_id, who, role, provider)
        verb = "granted" if changed else "already had"
    else:
        changed = rt.service.revoke(user_id, who, role, provider)
        verb = "revoked" if changed else "did not have"
    return f"{md.user(who)} {verb} {role.value} for {scope}."


def reject_unknown_provider(rt: Runtime, user_id: str, provider: str, user_text: str) -> None:
    rt.service.reject_unknown_provider(user_id, provider, user_text)


@calls_provider
def form_filing(
    rt: Runtime, view_id: str, draft: Draft, channel: str | None, values: dict[str, str]
) -> None:
    """Replace the form's "Looking up…" page with the outcome (the form again on trouble)."""
    try:
        filed, message = rt.workflows.file_and_answer(draft, channel)
        if filed is not None:
            page = blocks.notice_modal("Request filed", message)
        else:
            page = blocks.request_modal(
                rt.provider_menu(),
                channel=channel,
                selected=draft.provider,
                values=values,
                error=message,
            )
    except Exception:  # a bug: logged; the person must not be left looking at "Looking up…"
        log.exception("filing from the form failed")
        page = blocks.notice_modal("Password reset", SOMETHING_WRONG)
    try:
        rt.client.views_update(view_id=view_id, view=page)
    except (SlackApiError, SlackRequestError):
        # The modal was closed meanwhile: answer where the person started instead.
        if channel:
            rt.notifier.ephemeral(channel, draft.requester_id, _page_text(page))


def approve(rt: Runtime, request_id: str, actor: str, note: str | None) -> None:
    try:
        decision = rt.service.approve(request_id, actor, note)
    except DomainError as exc:
        _not_recorded(rt, request_id, actor, "approval", exc)
        return
    # Recorded: what follows (message, thread, and at quorum the provider call) goes on the
    # provider pool, so recording decisions never waits behind slow provider calls.
    rt.submit(after_decision, decision.request.id, actor, quorum_met=decision.quorum_met)


def deny(rt: Runtime, request_id: str, actor: str, reason: str) -> None:
    try:
        denied = rt.service.deny(request_id, actor, reason)
    except DomainError as exc:
        _not_recorded(rt, request_id, actor, "denial", exc)
        return
    rt.submit(after_decision, denied.id, actor, quorum_met=False)


def _not_recorded(rt: Runtime, request_id: str, actor: str, what: str, exc: DomainError) -> None:
    """Tell the approver beside the approval message (a DM if there is none to go beside)."""
    text = f":no_entry: Your {what} was not recorded: {md.escape(str(exc))}"
    if isinstance(exc, WrongState):
        rt.notifier.refresh(request_id)  # whatever the message shows is out of date
    try:
        channel = rt.service.view(request_id).approval_channel
    except DomainError:
        channel = None  # no such request (a forged submission): nothing to go beside
    if not (channel and rt.notifier.ephemeral(channel, actor, text)):
        rt.notifier.tell(actor, text)


@calls_provider
def after_decision(rt: Runtime, request_id: str, actor: str, *, quorum_met: bool) -> None:
    rt.workflows.after_decision(request_id, actor, quorum_met=quorum_met)


def after_cancel(rt: Runtime, view: RequestView) -> None:
    rt.workflows.after_cancel(view)


def refresh(rt: Runtime, request_id: str) -> None:
    rt.notifier.refresh(request_id)


def _page_text(page: dict[str, Any]) -> str:
    first = (page.get("blocks") or [{}])[0]
    return str((first.get("text") or {}).get("text") or "")
