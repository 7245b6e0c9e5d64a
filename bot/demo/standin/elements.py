"""Interactive elements in messages and views, and what Slack makes of a person's input.

Finding an element by action_id, and building the ``actions`` entry of a ``block_actions``
payload and the ``view.state.values`` of a submission, as Slack fills them in.
"""

from __future__ import annotations

import time
from typing import Any

from bot.demo.standin.workspace import Message

TEXT_INPUTS = ("plain_text_input", "email_text_input", "url_text_input", "number_input")
# state key for the single-choice element types, and the multi-choice ones.
SINGLE = {
    "users_select": "selected_user",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
}
MULTI = {
    "multi_users_select": "selected_users",
    "multi_conversations_select": "selected_conversations",
    "multi_channels_select": "selected_channels",
}
OPTION_ELEMENTS = ("static_select", "external_select", "radio_buttons")
OPTIONS_ELEMENTS = ("multi_static_select", "multi_external_select", "checkboxes")
NOT_STATEFUL = ("button", "overflow", "image", "workflow_button")


def find_element(
    message: Message, action_id: str, *, allow_stale: bool
) -> tuple[str, dict[str, Any]]:
    """(block_id, element) of ``action_id`` in the message; older versions with ``allow_stale``."""
    for block_id, element in message.elements():
        if element.get("action_id") == action_id:
            return block_id, element
    if allow_stale:
        for version in reversed(message.history):
            try:
                return find_in_blocks(version.blocks, action_id)
            except LookupError:
                continue
    raise LookupError(
        f"message {message.ts} in {message.channel} shows no {action_id!r} "
        f"(it has {message.action_ids()}); pass allow_stale=True for a late click"
    )


def find_in_blocks(blocks: list[dict[str, Any]], action_id: str) -> tuple[str, dict[str, Any]]:
    """(block_id, element) of ``action_id`` in ``blocks``; LookupError names the ones there are."""
    found: list[str] = []
    for block in blocks:
        for element in _elements(block):
            found.append(str(element.get("action_id")))
            if element.get("action_id") == action_id:
                return str(block.get("block_id", "")), element
    raise LookupError(f"no element {action_id!r} (there are {found})")


def _elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    out = (
        [e for e in block.get("elements") or [] if isinstance(e, dict)]
        if block.get("type") == "actions"
        else []
    )
    for key in ("element", "accessory"):
        if isinstance(block.get(key), dict) and "action_id" in block[key]:
            out.append(block[key])
    return out


def action(block_id: str, element: dict[str, Any], value: Any) -> dict[str, Any]:
    """The ``actions`` entry of a ``block_actions`` payload: ``element`` used, ``value`` chosen."""
    action: dict[str, Any] = {
        "action_id": element.get("action_id"),
        "block_id": block_id,
        "type": element.get("type"),
        "action_ts": f"{time.time():.6f}",
    }
    if element.get("type") == "button":
        action["text"] = element.get("text")
        action["value"] = value if value is not None else element.get("value")
        if element.get("style"):
            action["style"] = element["style"]
    elif value is not None:
        action.update(_element_state(element, value, where=block_id))
    return action


def _options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def _option(element: dict[str, Any], value: str, where: str) -> dict[str, Any]:
    if element.get("type", "").endswith("external_select"):
        return {"text": {"type": "plain_text", "text": value}, "value": value}
    for option in _options(element):
        if option.get("value") == value:
            return option
    offered = [o.get("value") for o in _options(element)]
    raise ValueError(f"{where}: {value!r} is not an option (there are {offered})")


def _element_state(element: dict[str, Any], value: Any, *, where: str) -> dict[str, Any]:
    """The ``state.values`` entry for ``element`` holding ``value`` (None: nothing chosen)."""
    kind = str(element.get("type"))
    state: dict[str, Any] = {"type": kind}
    many = [] if value is None else [value] if isinstance(value, str) else list(value)
    if kind in TEXT_INPUTS:
        text = None if value is None else str(value)
        if text is not None:
            lo, hi = element.get("min_length"), element.get("max_length")
            if (lo is not None and len(text) < lo) or (hi is not None and len(text) > hi):
                raise ValueError(f"{where}: Slack only accepts {lo}..{hi} characters here")
        state["value"] = text
    elif kind in OPTION_ELEMENTS:
        state["selected_option"] = None if value is None else _option(element, str(value), where)
    elif kind in OPTIONS_ELEMENTS:
        state["selected_options"] = [_option(element, str(v), where) for v in many]
    elif kind in SINGLE:
        state[SINGLE[kind]] = int(value) if kind == "datetimepicker" and value else value
    elif kind in MULTI:
        state[MULTI[kind]] = many
    elif kind == "rich_text_input":
        state["rich_text_value"] = (
            None
            if value is None
            else {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [{"type": "text", "text": str(value)}],
                    }
                ],
            }
        )
    else:
        state["value"] = value
    return state


def _initial(element: dict[str, Any]) -> Any:
    kind = element.get("type")
    if kind in OPTION_ELEMENTS:
        option = element.get("initial_option")
        return option.get("value") if isinstance(option, dict) else None
    if kind in OPTIONS_ELEMENTS:
        return [o.get("value") for o in element.get("initial_options") or []] or None
    for key in (
        "initial_value",
        "initial_user",
        "initial_conversation",
        "initial_channel",
        "initial_date",
        "initial_time",
        "initial_date_time",
        "initial_users",
        "initial_conversations",
        "initial_channels",
    ):
        if element.get(key) is not None:
            return element[key]
    return None


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def state_values(
    view: dict[str, Any], values: dict[str, Any], *, require: bool
) -> dict[str, dict[str, Any]]:
    """``view.state.values`` as Slack builds it: block_id → action_id → element state."""
    out: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    for block in view.get("blocks") or []:
        block_id = str(block.get("block_id", ""))
        for element in _elements(block):
            if element.get("type") in NOT_STATEFUL:
                continue
            action_id = str(element.get("action_id"))
            key = block_id if block_id in values else action_id if action_id in values else None
            if key is not None:
                used.add(key)
                value = values[key]
            else:
                value = _initial(element)
            if (
                require
                and block.get("type") == "input"
                and not block.get("optional")
                and _empty(value)
            ):
                raise ValueError(f"{block_id} is required; Slack would not submit the form")
            out.setdefault(block_id, {})[action_id] = _element_state(
                element, None if _empty(value) else value, where=block_id
            )
    unknown = set(values) - used
    if unknown:
        raise KeyError(f"no input with block_id or action_id {sorted(unknown)} in the view")
    return out
