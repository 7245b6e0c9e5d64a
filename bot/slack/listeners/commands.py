"""The ``/reset-password`` command and its subcommands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.domain.errors import DomainError
from bot.slack import blocks, jobs, parsing
from bot.slack import mrkdwn as md
from bot.slack.deps import ListenerDeps
from bot.slack.notifier import slack_error
from bot.slack.parsing import ParseError

WAIT = ":hourglass_flowing_sand:"


def register(app: App, deps: ListenerDeps) -> None:
    @app.command("/reset-password")
    def reset_password(ack: Ack, body: dict[str, Any]) -> None:
        user_id = str(body.get("user_id", ""))
        channel = str(body.get("channel_id", "")) or None
        try:
            command = parsing.parse(str(body.get("text", "")), deps.catalog.actions())
        except ParseError as exc:
            ack(text=f":warning: {md.escape(str(exc))}")
            return
        try:
            handle(deps, command, ack, body, user_id, channel)
        except DomainError as exc:
            ack(text=f":warning: {md.escape(str(exc))}")


def handle(
    deps: ListenerDeps,
    command: parsing.Command,
    ack: Ack,
    body: dict[str, Any],
    user_id: str,
    channel: str | None,
) -> None:
    match command:
        case parsing.OpenForm():
            # Listeners run before the response goes out, so the ack can say if this failed.
            try:
                form = blocks.request_modal(deps.catalog.menu(), channel=channel)
                deps.client.views_open(trigger_id=body["trigger_id"], view=form)
            except (SlackApiError, SlackRequestError, OSError) as exc:
                ack(
                    text=f":warning: Slack could not open the form ({slack_error(exc)}); "
                    "please try again, or type the request: `/reset-password help`."
                )
            else:
                ack()
        case parsing.Help(unknown=unknown):
            names = ", ".join(md.code(n) for n in deps.catalog.names()) or "none"
            if unknown:
                # Most often a mistyped provider name: say so first, and that nothing happened.
                words = parsing.words(str(body.get("text", "")))
                if len(words) >= 3:  # shaped like a request: an attempt worth auditing
                    deps.submit(jobs.reject_unknown_provider, user_id, unknown, words[1])
                ack(
                    text=f":warning: {md.code(unknown[:40])} is neither a configured provider "
                    f"nor a subcommand; nothing was filed. Providers: {names}.\n"
                    f"{parsing.USAGE}"
                )
            else:
                ack(text=f"{parsing.USAGE}\nProviders: {names}")
        case parsing.FileRequest(provider=provider, action=action, user=user, reason=reason):
            draft = deps.filing.validate(user_id, provider, action, user, reason)
            answer_soon(
                deps,
                ack,
                body,
                f":mag: Looking up {md.code(draft.user_text)} at {md.code(provider)}…",
                jobs.filing,
                draft,
                channel,
            )
        case parsing.Status(request_id=None):
            answer_soon(
                deps, ack, body, f"{WAIT} Looking up your requests…", jobs.recent_requests, user_id
            )
        case parsing.Status(request_id=str() as request_id):
            answer_soon(
                deps,
                ack,
                body,
                f"{WAIT} Looking up {md.code(request_id)}…",
                jobs.one_request,
                user_id,
                request_id,
            )
        case parsing.Cancel(request_id=request_id):
            answer_soon(
                deps,
                ack,
                body,
                f"{WAIT} Cancelling {md.code(request_id)}…",
                jobs.cancel,
                user_id,
                request_id,
            )
        case parsing.Pending():
            answer_soon(
                deps,
                ack,
                body,
                f"{WAIT} Looking for requests you can decide…",
                jobs.pending_requests,
                user_id,
            )
        case parsing.Providers():
            answer_soon(
                deps,
                ack,
                body,
                ":stethoscope: Checking each provider's credentials…",
                jobs.provider_checks,
            )
        case parsing.RolesList(user_id=who):
            answer_soon(deps, ack, body, f"{WAIT} Looking up roles…", jobs.roles_list, user_id, who)
        case parsing.RolesChange(grant=grant, user_id=who, role=role, provider=provider):
            answer_soon(
                deps,
                ack,
                body,
                f"{WAIT} Changing {md.subject(who)}'s roles…",
                jobs.roles_change,
                user_id,
                grant,
                who,
                role,
                provider,
            )


def answer_soon(
    deps: ListenerDeps,
    ack: Ack,
    body: dict[str, Any],
    placeholder: str,
    work: Callable[..., str],
    *args: Any,
) -> None:
    """Ack with ``placeholder`` at once; ``work(deps, *args)`` runs in the background and its
    answer replaces the placeholder through the command's response URL.

    The ack never waits for a provider or the database, so its latency cannot grow with
    theirs (nor with the background's queue). The job starts only once the ack has been
    written, so the answer can never arrive first and then be hidden by the placeholder.
    """
    ack(text=placeholder)
    deps.submit(jobs.answer, str(body.get("response_url", "")), work, *args)
