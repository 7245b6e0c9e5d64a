"""What the demo prints: where everything runs, the scenes, the transcript, the audit trail."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlalchemy import select

from bot.demo.rig import Rig
from bot.demo.scenes import Played
from bot.demo.standin import Workspace, render
from bot.demo.standin.transcript import blocks_text
from bot.store.models import AuditEvent

TRANSCRIPT_OPTIONS = {"times": False}


def header(rig: Rig) -> str:
    rows = [
        ("bot", f"{rig.events_url}  (signed requests; SQLite store in {rig.workdir})"),
        ("Slack", f"{rig.standin.api_url}  (local stand-in, channel #it-support)"),
    ]
    for name, sandbox in rig.sandboxes.items():
        rows.append((name, f"{sandbox.url}  ({rig.web.core.catalog[name].title} sandbox)"))
    width = max(len(name) for name, _ in rows)
    people = ", ".join(
        f"@{p.handle} ({p.id}, {_role_text(p.role.value if p.role else None, p.provider)})"
        if p.id not in rig.admins
        else f"@{p.handle} ({p.id}, admin)"
        for p in rig.people
    )
    return "\n".join(
        [
            "resetbot demo: the real bot, a Slack stand-in and four provider sandboxes, all on "
            "127.0.0.1",
            *(f"  {name.ljust(width)}  {where}" for name, where in rows),
            f"People: {people}",
        ]
    )


def _role_text(role: str | None, provider: str | None) -> str:
    if role is None:
        return "no role"
    return f"{role} for {provider} only" if provider else role


def scenes(played: Sequence[Played]) -> str:
    lines = ["Scenes"]
    for number, scene in enumerate(played, 1):
        ref = f" [{scene.request_id}]" if scene.request_id else ""
        mark = "" if scene.as_expected else f"  (UNEXPECTED: the script expects {scene.expected})"
        lines.append(f"  {number}. {scene.title}{ref}: {scene.outcome}{mark}")
        lines.append(f"     {scene.story}")
    return "\n".join(lines)


def transcript(rig: Rig) -> str:
    return rig.standin.transcript(**TRANSCRIPT_OPTIONS).rstrip("\n")


def home(rig: Rig, user_id: str) -> str:
    """A person's Home tab as text, once the bot has published it."""
    rig.driver.home_opened(user_id)
    view = rig.wait(lambda: rig.standin.homes.get(user_id), what="the Home tab")
    rig.settle()
    view = rig.standin.homes.get(user_id, view)
    handle = next((f"@{p.handle}" for p in rig.people if p.id == user_id), user_id)
    lines = blocks_text(view["blocks"], rig.standin.snapshot())
    return "\n".join([f"Home tab of {handle}", *(f"  {line}" for line in lines)])


def changes(before: Workspace, after: Workspace) -> str:
    """Only what is new or changed between two snapshots, rendered like the transcript."""
    old = {(m.channel, m.ts, m.ephemeral_to): m for m in before.messages}
    changed = {id(m) for m in after.messages if old.get((m.channel, m.ts, m.ephemeral_to)) != m}
    # A changed thread reply reads better under its message, so show the parent too.
    parents = {(m.channel, m.thread_ts) for m in after.messages if id(m) in changed and m.is_reply}
    shown = [
        m
        for m in after.messages
        if id(m) in changed or ((m.channel, m.ts) in parents and not m.is_ephemeral)
    ]
    new_commands = after.commands[len(before.commands) :]
    view = dataclasses.replace(after, messages=shown, commands=new_commands)
    return render(view, **TRANSCRIPT_OPTIONS).rstrip("\n")


def audit_table(rig: Rig) -> str:
    handles = {p.id: f"@{p.handle}" for p in rig.people}
    with rig.store.session() as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        rows = [
            (
                str(e.id),
                e.at.strftime("%H:%M:%S"),
                handles.get(e.actor, e.actor),
                e.action,
                e.request_id or "",
                e.provider or "",
                handles.get(e.target or "", e.target or ""),
                e.outcome or "",
            )
            for e in events
        ]
    head = ("#", "time", "actor", "action", "request", "provider", "target", "outcome")
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join(
        [
            f"Audit trail ({len(rows)} events, oldest first, UTC)",
            "  " + line(head),
            "  " + line(["-" * w for w in widths]),
            *("  " + line(row) for row in rows),
        ]
    )
