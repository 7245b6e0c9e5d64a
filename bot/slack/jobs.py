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

from bot.domain.service import Draft, RequestView
from bot.slack import blocks

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

SOMETHING_WRONG = (":x: Something went wrong; it is logged. `/reset-password status` shows "
                   "whether a request was filed.")


def answer(rt: Runtime, response_url: str, work: Callable[..., str], *args: Any) -> None:
    """Replace the command's placeholder with ``work(rt, *args)``'s text."""
    try:
        text = work(rt, *args)
    except Exception:  # a bug: logged; the person must not be left looking at the placeholder
        log.exception("answer from %s failed", getattr(work, "__qualname__", work))
        text = SOMETHING_WRONG
    Respond(response_url=response_url)(text=text, replace_original=True)


def filing(rt: Runtime, draft: Draft, channel: str | None) -> str:
    return rt.workflows.file_and_answer(draft, channel)[1]


def provider_checks(rt: Runtime) -> str:
    return blocks.providers_text(rt.service.provider_status())


def form_filing(rt: Runtime, view_id: str, draft: Draft, channel: str | None,
                values: dict[str, str]) -> None:
    """Replace the form's "Looking up…" page with the outcome (the form again on trouble)."""
    try:
        filed, message = rt.workflows.file_and_answer(draft, channel)
        if filed is not None:
            page = blocks.notice_modal("Request filed", message)
        else:
            page = blocks.request_modal(rt.provider_menu(), channel=channel,
                                        selected=draft.provider, values=values, error=message)
    except Exception:  # a bug: logged; the person must not be left looking at "Looking up…"
        log.exception("filing from the form failed")
        page = blocks.notice_modal("Password reset", SOMETHING_WRONG)
    try:
        rt.client.views_update(view_id=view_id, view=page)
    except (SlackApiError, SlackRequestError):
        # The modal was closed meanwhile: answer where the person started instead.
        if channel:
            rt.notifier.ephemeral(channel, draft.requester_id, _page_text(page))


def after_decision(rt: Runtime, request_id: str, actor: str, *, quorum_met: bool) -> None:
    rt.workflows.after_decision(request_id, actor, quorum_met=quorum_met)


def after_cancel(rt: Runtime, view: RequestView) -> None:
    rt.workflows.after_cancel(view)


def refresh(rt: Runtime, request_id: str) -> None:
    rt.notifier.refresh(request_id)


def _page_text(page: dict[str, Any]) -> str:
    first = (page.get("blocks") or [{}])[0]
    return str((first.get("text") or {}).get("text") or "")
