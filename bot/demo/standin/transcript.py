"""The stand-in's channels as a person would read them, as plain text (for the demo and tests)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

from bot.demo.standin.workspace import Command, Message, Workspace

INDENT = "  "
BODY = " " * 4
_LINK = re.compile(r"<([^<>]+)>")


def render(
    ws: Workspace, *, times: bool = True, ephemerals: bool = True, commands: bool = True
) -> str:
    """Every channel, then every DM: messages in order, edits, threads, ephemerals marked."""
    first: dict[str, tuple[int, int]] = {}
    for channel, ts in [(c.channel, c.ts) for c in ws.commands] + [
        (m.channel, m.ts) for m in ws.messages
    ]:
        first[channel] = min(first.get(channel, _ts_key(ts)), _ts_key(ts))
    order = sorted(first, key=first.__getitem__)
    rooms = [c for c in order if not _is_dm(ws, c)] + [c for c in order if _is_dm(ws, c)]
    sections = []
    for channel in rooms:
        lines = _channel(ws, channel, times=times, ephemerals=ephemerals, commands=commands)
        if lines:
            sections.append("\n".join([_heading(ws, channel), *lines]))
    return "\n\n".join(sections) + ("\n" if sections else "")


def _is_dm(ws: Workspace, channel: str) -> bool:
    found = ws.channels.get(channel)
    return found.is_im if found else channel.startswith("D")


def _heading(ws: Workspace, channel: str) -> str:
    found = ws.channels.get(channel)
    if found is not None and found.dm_user:
        return f"Direct messages with @{ws.user_name(found.dm_user)}"
    return f"#{ws.channel_name(channel)}"


def _channel(
    ws: Workspace, channel: str, *, times: bool, ephemerals: bool, commands: bool
) -> list[str]:
    messages = [
        m
        for m in ws.messages
        if m.channel == channel and not m.deleted and (ephemerals or not m.is_ephemeral)
    ]
    parents = {m.ts for m in messages if not m.is_reply}
    replies: dict[str, list[Message]] = {}
    top: list[Message | Command] = []
    for m in messages:
        if m.is_reply and m.thread_ts in parents:
            replies.setdefault(str(m.thread_ts), []).append(m)
        else:
            top.append(m)
    if commands:
        top.extend(c for c in ws.commands if c.channel == channel)
    top.sort(key=lambda item: _ts_key(item.ts))
    lines: list[str] = []
    for item in top:
        if isinstance(item, Command):
            lines.append(
                f"{INDENT}{_when(item.ts, times)}{ws.display_name(item.user)} typed "
                f"{item.command} {mrkdwn_text(item.text, ws)}".rstrip()
                + f"  (only visible to @{ws.user_name(item.user)})"
            )
            continue
        lines.extend(_message(ws, item, INDENT, times))
        for reply in replies.get(item.ts, []):
            lines.extend(_message(ws, reply, INDENT + "  ↳ ", times))
    return lines


def _message(ws: Workspace, m: Message, prefix: str, times: bool) -> list[str]:
    marks = []
    if m.edited:
        marks.append("(edited)")
    if m.ephemeral_to:
        marks.append(f"(only visible to @{ws.user_name(m.ephemeral_to)})")
    when = _when(m.ts, times)
    header = f"{prefix}{when}{ws.display_name(m.user)}"
    if marks:
        header += "  " + " ".join(marks)
    # The body sits under the author's name, a little further in.
    pad = " " * (len(prefix) + len(when)) + BODY
    body = blocks_text(m.blocks, ws) if m.blocks else mrkdwn_text(m.text, ws).splitlines()
    return [header, *(f"{pad}{line}".rstrip() for line in body)]


def _when(ts: str, times: bool) -> str:
    if not times:
        return ""
    return datetime.fromtimestamp(float(ts), UTC).strftime("%H:%M:%S") + "  "


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)


def mrkdwn_text(text: str, ws: Workspace | None = None) -> str:
    """Mentions and links as a reader sees them; the rest of the markup stays as typed."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + (label or (ws.user_name(target[1:]) if ws else target[1:]))
        if target.startswith("#"):
            return "#" + (label or (ws.channel_name(target[1:]) if ws else target[1:]))
        if target.startswith("!"):
            return label or "@" + target[1:].split("^")[0]
        return f"{label} ({target})" if label else target

    return html.unescape(_LINK.sub(replace, text))


def _text(obj: Any, ws: Workspace | None) -> str:
    if isinstance(obj, dict):
        text = str(obj.get("text", ""))
        return mrkdwn_text(text, ws) if obj.get("type") == "mrkdwn" else html.unescape(text)
    return str(obj or "")


def _element(element: dict[str, Any], ws: Workspace | None) -> str:
    kind = element.get("type")
    if kind in ("button", "workflow_button"):
        return f"[{_text(element.get('text'), ws)}]"
    if kind in ("plain_text", "mrkdwn"):
        return _text(element, ws)
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if kind == "overflow":
        return "[…]"
    label = _text(element.get("placeholder"), ws) or str(kind)
    chosen = element.get("initial_option")
    if isinstance(chosen, dict):
        label = _text(chosen.get("text"), ws)
    return f"[{label} ▾]"


def _rich_text(node: Any, ws: Workspace | None) -> str:
    if isinstance(node, list):
        return "".join(_rich_text(n, ws) for n in node)
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "user":
        return "@" + (ws.user_name(str(node.get("user_id"))) if ws else str(node.get("user_id")))
    if kind == "channel":
        channel = str(node.get("channel_id"))
        return "#" + (ws.channel_name(channel) if ws else channel)
    if kind == "link":
        return str(node.get("text") or node.get("url", ""))
    if kind == "emoji":
        return f":{node.get('name')}:"
    inner = _rich_text(node.get("elements") or [], ws)
    if kind == "rich_text_list":
        return "".join(f"• {_rich_text(item, ws)}\n" for item in node.get("elements") or [])
    if kind == "rich_text_quote":
        return "> " + inner + "\n"
    if kind == "rich_text_preformatted":
        return "```" + inner + "```\n"
    if kind == "rich_text_section" and not inner.endswith("\n"):
        return inner + "\n"  # a block-level element: what follows starts a new line
    return inner


def blocks_text(blocks: list[dict[str, Any]], ws: Workspace | None = None) -> list[str]:
    """Blocks rendered as lines of plain text: buttons as ``[Approve] [Deny]``."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header", "markdown"):
            if block.get("text"):
                lines.extend(
                    _text(block["text"], ws).splitlines()
                    if kind != "markdown"
                    else str(block["text"]).splitlines()
                )
            for field in block.get("fields") or []:
                lines.extend(_text(field, ws).splitlines())
            accessory = block.get("accessory")
            if isinstance(accessory, dict) and accessory.get("type") != "image":
                lines.append(_element(accessory, ws))
        elif kind == "context":
            lines.append("  ".join(_element(e, ws) for e in block.get("elements") or []))
        elif kind == "actions":
            lines.append(" ".join(_element(e, ws) for e in block.get("elements") or []))
        elif kind == "divider":
            lines.append("────────")
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text', '')}]")
        elif kind == "rich_text":
            lines.extend(_rich_text(block.get("elements") or [], ws).rstrip("\n").splitlines())
        elif kind == "input":
            element = _element(block.get("element") or {}, ws)
            lines.append(f"{_text(block.get('label'), ws)}: {element}")
        else:
            lines.append(f"[{kind}]")
    return lines
