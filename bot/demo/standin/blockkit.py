"""Block Kit checks the way Slack answers them, using slack_sdk.models, plus Slack's id filling."""

from __future__ import annotations

import itertools
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_BLOCK_LIMIT = 50
MODAL_BLOCK_LIMIT = 100
MESSAGE_TEXT_LIMIT = 40_000
# Slack counts these for modals and the home tab.
VIEW_TYPES = ("modal", "home")


def check_blocks(
    blocks: Any, *, where: str = "/blocks", limit: int = MESSAGE_BLOCK_LIMIT
) -> list[str]:
    """Problems with a message's ``blocks``, each with a JSON pointer like Slack's messages."""
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{where}]"]
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"no more than {limit} items allowed [json-pointer:{where}]")
    for i, raw in enumerate(blocks):
        pointer = f"{where}/{i}"
        if not isinstance(raw, dict):
            problems.append(f"must be an object [json-pointer:{pointer}]")
            continue
        try:
            parsed = Block.parse(raw)
            if parsed is None:
                problems.append(f"unsupported type {raw.get('type')!r} [json-pointer:{pointer}]")
                continue
            # to_dict() validates recursively; validate_json() alone only checks the top object.
            rendered = parsed.to_dict()
        except (SlackObjectFormationError, TypeError, ValueError, KeyError) as exc:
            problems.append(f"{exc} [json-pointer:{pointer}]")
            continue
        problems.extend(_dropped(raw, rendered, pointer))
    problems.extend(_duplicate_block_ids(blocks, where))
    return problems


def check_view(view: Any, *, where: str = "/view") -> list[str]:
    """Problems with a modal (or home tab) definition."""
    if not isinstance(view, dict):
        return [f"must be an object [json-pointer:{where}]"]
    if view.get("type") not in VIEW_TYPES:
        return [f"type must be one of {VIEW_TYPES} [json-pointer:{where}/type]"]
    problems: list[str] = []
    if view["type"] == "modal" and not view.get("title"):
        problems.append(f"title is required for a modal [json-pointer:{where}/title]")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return [*problems, f"must be an array [json-pointer:{where}/blocks]"]
    problems.extend(check_blocks(blocks, where=f"{where}/blocks", limit=MODAL_BLOCK_LIMIT))
    if (
        view["type"] == "modal"
        and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        and not view.get("submit")
    ):
        problems.append(f"a modal with inputs needs submit [json-pointer:{where}/submit]")
    if problems:
        return problems
    try:
        rendered = View(**view).to_dict()
    except (SlackObjectFormationError, TypeError, ValueError, KeyError) as exc:
        return [f"{exc} [json-pointer:{where}]"]
    top = {k: v for k, v in view.items() if k != "blocks"}
    return _dropped(top, {k: v for k, v in rendered.items() if k != "blocks"}, where)


def check_message(text: Any, blocks: Any) -> list[str]:
    problems: list[str] = []
    if text is not None and not isinstance(text, str):
        problems.append("text must be a string [json-pointer:/text]")
    elif isinstance(text, str) and len(text) > MESSAGE_TEXT_LIMIT:
        problems.append(f"text is longer than {MESSAGE_TEXT_LIMIT} characters")
    if blocks is not None:
        problems.extend(check_blocks(blocks))
    return problems


def _dropped(raw: Any, rendered: Any, pointer: str) -> list[str]:
    """Parts of ``raw`` that slack_sdk did not understand (it skips them silently; Slack won't)."""
    if isinstance(raw, dict):
        if not isinstance(rendered, dict):
            return [f"expected an object [json-pointer:{pointer}]"]
        problems: list[str] = []
        for key, value in raw.items():
            if value is None:
                continue
            if key not in rendered:
                if (isinstance(value, list) and not value) or (key == "text" and value == ""):
                    problems.append(f"must not be empty [json-pointer:{pointer}/{key}]")
                elif not (isinstance(value, str) and not value):
                    problems.append(f"unsupported field {key!r} [json-pointer:{pointer}/{key}]")
                continue
            problems.extend(_dropped(value, rendered[key], f"{pointer}/{key}"))
        return problems
    if isinstance(raw, list):
        if not isinstance(rendered, list) or len(rendered) != len(raw):
            return [f"unsupported items [json-pointer:{pointer}]"]
        out: list[str] = []
        for i, (a, b) in enumerate(zip(raw, rendered, strict=True)):
            if b is None and a is not None:
                kind = a.get("type") if isinstance(a, dict) else type(a).__name__
                out.append(f"unsupported element {kind!r} [json-pointer:{pointer}/{i}]")
            else:
                out.extend(_dropped(a, b, f"{pointer}/{i}"))
        return out
    if isinstance(raw, str) and isinstance(rendered, dict):
        # slack_sdk upgrades a bare string to a text object; the API itself refuses it.
        return [f"expected a text object, got a string [json-pointer:{pointer}]"]
    return []


def _duplicate_block_ids(blocks: list[Any], where: str) -> list[str]:
    seen: set[str] = set()
    problems: list[str] = []
    for i, block in enumerate(blocks):
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if block_id is None:
            continue
        if block_id in seen:
            problems.append(f"duplicate block_id {block_id!r} [json-pointer:{where}/{i}]")
        seen.add(str(block_id))
    return problems


class IdFiller:
    """Gives blocks and elements the block_id/action_id Slack would generate when missing."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def fill(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for block in blocks:
            if not isinstance(block, dict):
                continue
            block.setdefault("block_id", self._next("b"))
            elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
            for key in ("element", "accessory"):
                if isinstance(block.get(key), dict):
                    elements.append(block[key])
            for element in elements:
                if isinstance(element, dict) and _interactive(element):
                    element.setdefault("action_id", self._next("a"))
        return blocks

    def _next(self, prefix: str) -> str:
        return f"{prefix}{next(self._counter):04d}"


def _interactive(element: dict[str, Any]) -> bool:
    return element.get("type") not in ("image", "plain_text", "mrkdwn", None)
