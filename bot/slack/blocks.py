"""Block Kit views and messages, built with slack_sdk's models so Slack's limits are checked."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RichTextBlock,
    RichTextElementParts,
    RichTextQuoteElement,
    RichTextSectionElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.views import GrantView, ProviderStatus, RequestLine, RequestView
from bot.slack import mrkdwn as md
from bot.slack.fit import fit
from bot.store.models import ALL_PROVIDERS, Confirmation, RequestState, TargetLookup

APPROVE_ACTION = "approve_request"
DENY_ACTION = "deny_request"
PROVIDER_SELECT = "provider_select"
REQUEST_MODAL = "request_modal"
APPROVE_MODAL = "approve_modal"
DENY_MODAL = "deny_modal"
CONFIRM_ACTION = "target_confirms"
REJECT_ACTION = "target_rejects"
DISPUTE_ACTION = "target_disputes"

STATE_WORDS = {
    RequestState.PENDING: ":hourglass_flowing_sand: Waiting for approval",
    RequestState.APPROVED: ":white_check_mark: Approved — calling the provider",
    RequestState.DISPATCHING: ":arrows_counterclockwise: Calling the provider",
    RequestState.SUCCEEDED: ":white_check_mark: Done",
    RequestState.FAILED: ":x: Failed — nothing was changed",
    RequestState.UNKNOWN: ":warning: Outcome unknown — verify at the provider",
    RequestState.DENIED: ":no_entry: Denied",
    RequestState.EXPIRED: ":zzz: Expired — nobody decided in time",
    RequestState.CANCELLED: ":heavy_multiplication_x: Cancelled",
    RequestState.REJECTED_BY_TARGET: ":no_entry_sign: Rejected by the account's owner",
}
CONFIRMATION_WORDS = {
    Confirmation.AWAITING: ":hourglass_flowing_sand: asked to confirm; nothing is done before",
    Confirmation.CONFIRMED: ":white_check_mark: confirmed the request is theirs",
    Confirmation.NOT_NEEDED: "not asked (this provider does not ask the owner)",
    Confirmation.UNREACHABLE: ":warning: could not be asked (their DM failed)",
}


def _text(value: str, limit: int = 2000) -> MarkdownTextObject:
    # 2000: a section field's limit, the smallest of the places mrkdwn text goes.
    return MarkdownTextObject(text=fit(value, limit))


def _plain(value: str, limit: int = 75) -> PlainTextObject:
    return PlainTextObject(text=fit(value, limit), emoji=True)


def _buttons(block_id: str, request_id: str, *buttons: tuple[str, str, str]) -> ActionsBlock:
    """A row of buttons acting on one request: (label, action_id, style) each."""
    return ActionsBlock(
        block_id=block_id,
        elements=[
            ButtonElement(text=_plain(label), action_id=action, value=request_id, style=style)
            for label, action, style in buttons
        ],
    )


DECISION_BUTTONS = (("Approve", APPROVE_ACTION, "primary"), ("Deny", DENY_ACTION, "danger"))


def blocks_json(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    out = []
    for block in blocks:
        block.validate_json()
        out.append(block.to_dict())
    return out


def view_json(view: View) -> dict[str, Any]:
    view.validate_json()
    return view.to_dict()


def account_line(r: RequestView) -> str:
    parts = [md.escape(r.target_name)] if r.target_name else []
    if r.target_email:
        parts.append(md.escape(r.target_email))
    parts.append(f"id {md.code(r.target_id)}")
    return " · ".join(parts)


def owner_line(r: RequestView) -> str | None:
    """Whether the account's owner was found in Slack, as whom, and what they answered."""
    if r.target_lookup == TargetLookup.FOUND and r.target_slack_id:
        return f"{md.user(r.target_slack_id)} — {CONFIRMATION_WORDS[r.confirmation]}"
    if r.target_lookup == TargetLookup.NOT_FOUND:
        return "not found in Slack: decide without the owner's confirmation"
    if r.target_lookup == TargetLookup.FAILED:
        return (
            f":warning: could not be checked in Slack ({md.escape(r.target_lookup_error)}): "
            "decide without the owner's confirmation"
        )
    return None


def request_fields(r: RequestView) -> list[MarkdownTextObject]:
    fields = [
        _text(f"*Requested by*\n{md.user(r.requester_id)}"),
        _text(f"*Provider*\n{md.escape(r.provider)} ({md.escape(r.provider_title)})"),
        _text(f"*Account*\n{account_line(r)}"),
        _text(f"*Action*\n{md.escape(r.description)}"),
    ]
    owner = owner_line(r)
    if owner:
        fields.append(_text(f"*Account owner in Slack*\n{owner}"))
    return fields


def warnings(r: RequestView) -> list[str]:
    """What approvers and reviewers must not miss."""
    out = []
    if r.privileged:
        why = f" ({md.escape(r.privileged_why)})" if r.privileged_why else ""
        out.append(
            f":rotating_light: An administrator account at {md.escape(r.provider_title)}{why}: "
            f"it needs {r.approvals_required} approvals and its owner's confirmation."
        )
    if r.disputed_at:
        out.append(
            f":rotating_light: The account's owner says this reset was not theirs "
            f"(reported {md.date(r.disputed_at)})."
        )
    return out


def reason_block(r: RequestView) -> RichTextBlock:
    """The requester's free text as rich text: shown literally, so no mention, link or
    formatting typed into it can take effect."""
    return RichTextBlock(
        block_id="reason",
        elements=[
            RichTextSectionElement(
                elements=[
                    RichTextElementParts.Text(text="Reason", style={"bold": True}),
                ]
            ),
            RichTextQuoteElement(elements=[RichTextElementParts.Text(text=fit(r.reason, 3000))]),
        ],
    )


def outcome_line(r: RequestView) -> str:
    head = STATE_WORDS[r.state]
    if r.state is RequestState.DENIED and r.decided_by:
        return f"{head} by {md.user(r.decided_by)}: {md.escape(r.decision_note)}"
    if r.state is RequestState.CANCELLED and r.decided_by:
        return f"{head} by {md.user(r.decided_by)}"
    if r.state is RequestState.REJECTED_BY_TARGET and r.decided_by:
        return f"{head}: {md.user(r.decided_by)} did not ask for it. Nothing was done."
    if r.outcome_message:
        return f"{head}: {md.escape(r.outcome_message)}"
    return head


def approval_message(
    r: RequestView, *, secret_note: str | None = None, escalated: bool = False
) -> dict[str, Any]:
    """The message approvers act on; re-rendered in place after every change (and its
    escalated copy, which says where the original is)."""
    head = (
        f"Escalated: password reset request {r.id}"
        if escalated
        else (f"Password reset request {r.id}")
    )
    blocks: list[Block] = [
        HeaderBlock(text=_plain(head, 150)),
        SectionBlock(fields=request_fields(r)),
        reason_block(r),
    ]
    approvals = ", ".join(
        md.user(a.approver_id) + (f" (“{md.escape(a.note)}”)" if a.note else "")
        for a in r.approvals
    )
    facts = [f"Request {md.code(r.id)}", f"Approvals {len(r.approvals)} of {r.approvals_required}"]
    if approvals:
        facts.append(f"approved by {approvals}")
    if r.state is RequestState.PENDING:
        facts.append(f"expires {md.date(r.expires_at)}")
    if r.secret_recipient:
        facts.append(f"delivered privately to {md.user(r.secret_recipient)}")
    elif r.state is RequestState.PENDING and r.secret_label and r.secret_to:
        whom = "the account's owner" if r.secret_to == r.target_slack_id else "the requester"
        facts.append(
            f"the {md.escape(r.secret_label)} goes privately to {whom}, {md.user(r.secret_to)}"
        )
    blocks.append(ContextBlock(elements=[_text(" · ".join(facts))]))
    blocks += [SectionBlock(text=_text(w)) for w in warnings(r)]
    status = outcome_line(r)
    if secret_note:
        status += f"\n{md.escape(secret_note)}"
    blocks.append(SectionBlock(text=_text(status)))
    if r.state is RequestState.PENDING:
        blocks.append(_buttons("decision", r.id, *DECISION_BUTTONS))
    elif r.finished_at or r.decided_at:
        at = r.finished_at or r.decided_at
        assert at is not None
        blocks.append(ContextBlock(elements=[_text(f"Updated {md.date(at)}")]))
    text = (
        f"Password reset request {r.id}: {md.escape(r.description)} — "
        f"{STATE_WORDS[r.state].split(' ', 1)[1]}"
    )
    return {"text": text, "blocks": blocks_json(blocks)}


def thread_outcome(r: RequestView, *, secret_note: str | None = None) -> str:
    line = f"{outcome_line(r)}\n{md.escape(r.description)} (request {md.code(r.id)})"
    if secret_note:
        line += f"\n{md.escape(secret_note)}"
    return line


def requester_update(r: RequestView) -> str:
    return f"Your request {md.code(r.id)} — {md.escape(r.description)}\n{outcome_line(r)}"


def secret_dm(r: RequestView, label: str, secret: str) -> dict[str, Any]:
    """The only place a secret is ever written: its recipient's DM with the bot (the account's
    owner, or the requester when the owner is not in Slack)."""
    if r.secret_recipient and r.secret_recipient == r.target_slack_id:
        text = (
            f"Your password reset ({r.id}) was approved. Your {label} for "
            f"{r.provider_title} is below; it is not stored anywhere."
        )
    else:
        text = (
            f"Your request {r.id} succeeded. The {label} for {r.target_label} is below. "
            "Pass it to the user through a channel you trust; it is not stored anywhere."
        )
    blocks: list[Block] = [
        SectionBlock(text=_text(md.escape(text))),
        SectionBlock(text=_text(f"```{md.escape(secret)}```")),
        ContextBlock(elements=[_text(md.escape(r.outcome_message or ""))]),
    ]
    return {"text": md.escape(text), "blocks": blocks_json(blocks)}


def request_modal(
    providers: Sequence[tuple[str, str, Sequence[tuple[str, str]]]],
    *,
    channel: str | None,
    selected: str | None = None,
    values: dict[str, str] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """``providers`` = (name, title, [(action, label), …]); an action select appears once a
    provider with several actions is chosen. ``error`` is mrkdwn the caller escaped."""
    values = values or {}
    options = [Option(value=name, text=_plain(f"{name} — {title}")) for name, title, _ in providers]
    initial = next((o for o in options if o.value == selected), None)
    blocks: list[Block] = []
    if error:
        blocks.append(SectionBlock(text=_text(error)))  # mrkdwn, escaped by the caller
    blocks.append(
        InputBlock(
            block_id="provider",
            label=_plain("Provider"),
            dispatch_action=True,
            element=StaticSelectElement(
                action_id=PROVIDER_SELECT,
                placeholder=_plain("Choose a provider"),
                options=options,
                initial_option=initial,
            ),
        )
    )
    actions = next((acts for name, _, acts in providers if name == selected), ())
    if len(actions) > 1:
        action_options = [Option(value=a, text=_plain(label)) for a, label in actions]
        chosen = next(
            (o for o in action_options if o.value == values.get("action")), action_options[0]
        )
        blocks.append(
            InputBlock(
                block_id="action",
                label=_plain("Action"),
                element=StaticSelectElement(
                    action_id="action", options=action_options, initial_option=chosen
                ),
            )
        )
    blocks.append(
        InputBlock(
            block_id="user",
            label=_plain("User"),
            hint=_plain("Their e-mail, or the provider's own user id", 150),
            element=PlainTextInputElement(
                action_id="user",
                max_length=254,
                initial_value=values.get("user") or None,
                placeholder=_plain("ann@example.com"),
            ),
        )
    )
    blocks.append(
        InputBlock(
            block_id="reason",
            label=_plain("Reason"),
            hint=_plain("Shown to the approver and kept in the audit log", 150),
            element=PlainTextInputElement(
                action_id="reason",
                multiline=True,
                max_length=500,
                initial_value=values.get("reason") or None,
            ),
        )
    )
    view = View(
        type="modal",
        callback_id=REQUEST_MODAL,
        title=_plain("Password reset", 24),
        submit=_plain("Request", 24),
        close=_plain("Cancel", 24),
        private_metadata=json.dumps({"channel": channel}),
        blocks=blocks,
    )
    return view_json(view)


def notice_modal(title: str, text: str) -> dict[str, Any]:
    view = View(
        type="modal",
        title=_plain(title, 24),
        close=_plain("Close", 24),
        blocks=[SectionBlock(text=_text(text))],
    )
    return view_json(view)


def approve_modal(r: RequestView) -> dict[str, Any]:
    blocks: list[Block] = [
        SectionBlock(text=_text(f"*{md.escape(r.description)}*")),
        SectionBlock(fields=request_fields(r)),
        reason_block(r),
        DividerBlock(),
        InputBlock(
            block_id="note",
            label=_plain("Note (optional)"),
            optional=True,
            element=PlainTextInputElement(action_id="note", multiline=True, max_length=500),
        ),
    ]
    return view_json(
        View(
            type="modal",
            callback_id=APPROVE_MODAL,
            title=_plain(f"Approve {r.id}", 24),
            submit=_plain("Approve", 24),
            close=_plain("Cancel", 24),
            private_metadata=r.id,
            blocks=blocks,
        )
    )


def deny_modal(r: RequestView) -> dict[str, Any]:
    blocks: list[Block] = [
        SectionBlock(text=_text(f"*{md.escape(r.description)}*")),
        SectionBlock(fields=request_fields(r)),
        InputBlock(
            block_id="reason",
            label=_plain("Why deny it?"),
            hint=_plain("The requester sees this", 150),
            element=PlainTextInputElement(
                action_id="reason", multiline=True, min_length=3, max_length=500
            ),
        ),
    ]
    return view_json(
        View(
            type="modal",
            callback_id=DENY_MODAL,
            title=_plain(f"Deny {r.id}", 24),
            submit=_plain("Deny", 24),
            close=_plain("Cancel", 24),
            private_metadata=r.id,
            blocks=blocks,
        )
    )


def status_text(r: RequestView) -> str:
    lines = [
        f"*Request {md.code(r.id)}* — {md.escape(r.description)}",
        f"{outcome_line(r)}",
        f"Requested by {md.user(r.requester_id)} {md.date(r.created_at)} · "
        f"approvals {len(r.approvals)} of {r.approvals_required}",
    ]
    if r.state is RequestState.PENDING:
        lines.append(f"Expires {md.date(r.expires_at)}")
    return "\n".join(lines)


def request_list(title: str, rows: Sequence[RequestLine], empty: str) -> str:
    if not rows:
        return empty
    lines = [f"*{title}*"]
    for r in rows:
        where = f" in {md.channel(r.approval_channel)}" if r.approval_channel else ""
        lines.append(f"• {md.code(r.id)} {md.escape(r.description)} — {r.state.value}{where}")
    return "\n".join(lines)


def providers_text(rows: Sequence[ProviderStatus]) -> str:
    if not rows:
        return "No providers are configured."
    lines = ["*Configured providers*"]
    for p in rows:
        mark = ":white_check_mark:" if p.check.ok else ":x:"
        lines.append(
            f"{mark} {md.code(p.name)} {md.escape(p.title)} — actions: "
            f"{md.escape(', '.join(p.actions))} — {md.escape(p.check.detail)}"
        )
        # Each missing right on its own line, saying what to change (no code spans: a line
        # with one is a provider's line).
        lines.extend(f"    ↳ {md.escape(line.replace('`', ''))}" for line in p.check.shortfalls)
    return "\n".join(lines)


def grants_text(grants: Sequence[GrantView]) -> str:
    lines = ["*Role grants*"]
    for g in grants:
        if g.from_config:
            lines.append(f"• {md.user(g.user_id)} admin (from config)")
            continue
        scope = "all providers" if g.provider_scope == ALL_PROVIDERS else md.code(g.provider_scope)
        lines.append(f"• {md.subject(g.user_id)} {g.role.value} for {scope}")
    if len(lines) == 1:
        lines.append("none")
    return "\n".join(lines)


def target_confirmation(r: RequestView) -> dict[str, Any]:
    """The DM that asks the account's owner whether the request is theirs."""
    text = (
        f"{md.user(r.requester_id)} asked for a password reset of your "
        f"{md.escape(r.provider_title)} account ({account_line(r)}): "
        f"{md.escape(r.description)}. Request {md.code(r.id)}."
    )
    blocks: list[Block] = [
        SectionBlock(text=_text(text)),
        reason_block(r),
        SectionBlock(
            text=_text(
                "*Did you ask for this?* Nothing is done until you confirm. If you did not, "
                "say so: the request ends and the security team is told."
            )
        ),
        _buttons(
            "owner",
            r.id,
            ("Yes, this is me", CONFIRM_ACTION, "primary"),
            ("No, I did not ask", REJECT_ACTION, "danger"),
        ),
    ]
    return {
        "text": f"Did you ask for a password reset of your {md.escape(r.provider_title)} "
        f"account? (request {r.id})",
        "blocks": blocks_json(blocks),
    }


def owner_answer(r: RequestView) -> str:
    """What replaces the owner's question once they answered."""
    if r.state is RequestState.REJECTED_BY_TARGET:
        return (
            f":no_entry_sign: You said you did not ask for request {md.code(r.id)}. It is "
            "ended, nothing was done, and the security team has been told."
        )
    return (
        f":white_check_mark: Thank you: you confirmed request {md.code(r.id)} "
        f"({md.escape(r.description)}). It goes ahead once it is approved."
    )


def owner_notice(r: RequestView) -> dict[str, Any]:
    """After the reset: the account's owner hears what was done, for whom, approved by whom."""
    approvers = ", ".join(md.user(a.approver_id) for a in r.approvals) or "nobody"
    text = (
        f"{md.escape(r.description)} — {outcome_line(r)}\nAt the request of "
        f"{md.user(r.requester_id)}, approved by {approvers} (request {md.code(r.id)})."
    )
    blocks: list[Block] = [
        SectionBlock(text=_text(text)),
        SectionBlock(text=_text("If you did not expect this, report it at once:")),
        _buttons("owner", r.id, ("This wasn't me", DISPUTE_ACTION, "danger")),
    ]
    return {
        "text": f"Your {md.escape(r.provider_title)} account: {md.escape(r.description)}",
        "blocks": blocks_json(blocks),
    }


def disputed_answer(r: RequestView) -> str:
    return (
        f":rotating_light: Reported: request {md.code(r.id)} was not yours. The security team "
        "has been told; they will contact you."
    )


def security_alert(r: RequestView, what: str) -> dict[str, Any]:
    """An alert for the security channel: who asked, for whose account, where, why, when."""
    owner = md.user(r.target_slack_id) if r.target_slack_id else account_line(r)
    text = (
        f":rotating_light: *Security alert*: {md.escape(what)}.\n"
        f"Request {md.code(r.id)} at {md.escape(r.provider)} ({md.escape(r.provider_title)}): "
        f"{md.escape(r.description)}.\nRequested by {md.user(r.requester_id)} for "
        f"{owner}, filed {md.date(r.created_at)}."
    )
    blocks: list[Block] = [SectionBlock(text=_text(text)), reason_block(r)]
    return {
        "text": f"Security alert: {md.escape(what)} (request {r.id})",
        "blocks": blocks_json(blocks),
    }


def reminder(r: RequestView, deciders: Sequence[str], admins: Sequence[str]) -> str:
    """The reminder in the approval message's thread: who can decide, or that nobody can."""
    admins_text = ", ".join(md.user(a) for a in admins) or "no admin is configured"
    if deciders:
        who = ", ".join(md.subject(d) for d in deciders)
        return (
            f":alarm_clock: Request {md.code(r.id)} is still waiting for a decision "
            f"(expires {md.date(r.expires_at)}). Who can decide: {who} (and the admins)."
        )
    return (
        f":warning: Request {md.code(r.id)} is still waiting, and nobody holds the approver role "
        f"for {md.code(r.provider)} (an empty group?): only an admin can decide it: "
        f"{admins_text}."
    )


def people_update(r: RequestView) -> str:
    return (
        f"Request {md.code(r.id)} that you approved — {md.escape(r.description)}\n{outcome_line(r)}"
    )


CANCEL_ACTION = "cancel_request"
HOME_LIMIT = 20  # requests per section: a Home tab holds at most 100 blocks


def home_view(
    mine: Sequence[RequestLine],
    deciding: Sequence[RequestLine],
    *,
    providers: Sequence[ProviderStatus] | None = None,
    grants: Sequence[GrantView] | None = None,
) -> dict[str, Any]:
    """The App Home: my open requests (Cancel), those waiting for my decision (Approve / Deny,
    the same modals as the message), and for admins the providers and the role grants."""
    blocks: list[Block] = [HeaderBlock(text=_plain("Your open requests"))]
    for r in mine[:HOME_LIMIT]:
        blocks.append(
            SectionBlock(
                block_id=f"mine-{r.id}",
                text=_text(f"{md.code(r.id)} {md.escape(r.description)} — {r.state.value}"),
                accessory=ButtonElement(
                    text=_plain("Cancel"), action_id=CANCEL_ACTION, value=r.id, style="danger"
                )
                if r.state is RequestState.PENDING
                else None,
            )
        )
    if not mine:
        blocks.append(SectionBlock(text=_text("Nothing open.")))
    blocks.append(HeaderBlock(text=_plain("Waiting for your decision")))
    for r in deciding[:HOME_LIMIT]:
        blocks.append(
            SectionBlock(
                block_id=f"about-{r.id}",
                text=_text(f"{md.code(r.id)} {md.escape(r.description)}"),
            )
        )
        blocks.append(_buttons(f"decide-{r.id}", r.id, *DECISION_BUTTONS))
    if not deciding:
        blocks.append(SectionBlock(text=_text("Nothing is waiting for you.")))
    if providers is not None:
        blocks.append(HeaderBlock(text=_plain("Providers")))
        blocks.append(SectionBlock(text=_text(providers_text(providers)[:3000])))
    if grants is not None:
        blocks.append(HeaderBlock(text=_plain("Role grants")))
        blocks.append(SectionBlock(text=_text(grants_text(grants)[:3000])))
    return {"type": "home", "blocks": blocks_json(blocks)}
