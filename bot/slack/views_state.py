"""Reading interaction payloads: who acted, the view, its metadata and submitted values.

Payloads are signed by Slack, but a listener still must not crash on a field of the wrong type:
every accessor here returns an empty value instead.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def user_id(body: dict[str, Any]) -> str:
    """The acting person's Slack id ("" when the payload has none)."""
    value = _dict(body.get("user")).get("id")
    return value if isinstance(value, str) else ""


def view_of(body: dict[str, Any]) -> dict[str, Any]:
    return _dict(body.get("view"))


def first_action(body: dict[str, Any]) -> dict[str, Any]:
    actions = body.get("actions")
    return _dict(actions[0]) if isinstance(actions, list) and actions else {}


def text_field(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def metadata_channel(view: dict[str, Any]) -> str | None:
    """The channel the request form was opened from, kept in its private_metadata."""
    try:
        meta = json.loads(text_field(view, "private_metadata") or "{}")
    except ValueError:
        return None
    channel = meta.get("channel") if isinstance(meta, dict) else None
    return channel if isinstance(channel, str) and channel else None


def form_values(view: dict[str, Any]) -> dict[str, str]:
    """block_id → the value typed or chosen (selects give their option value)."""
    out: dict[str, str] = {}
    state = _dict(_dict(view.get("state")).get("values"))
    for block_id, elements in state.items():
        if not isinstance(elements, dict):
            continue
        for element in elements.values():
            if not isinstance(element, dict):
                continue
            selected = element.get("selected_option")
            if isinstance(selected, dict):
                out[str(block_id)] = str(selected.get("value") or "")
            elif element.get("value") is not None:
                out[str(block_id)] = str(element["value"])
    return out


def well_formed(raw: bytes, content_type: str) -> bool:
    """Whether a request body has the shape Slack sends: a form (or JSON) whose ``payload``, if
    any, is a JSON object whose well-known fields have their documented types."""
    try:
        text = raw.decode("utf-8")
        if content_type.startswith("application/json"):
            return _shaped(json.loads(text or "{}"))
        if "payload=" not in text:  # a slash command: Bolt reads its fields as strings
            return True
        payload = parse_qs(text, keep_blank_values=True).get("payload")
        return payload is None or _shaped(json.loads(payload[0]))
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both
        return False


def _strings(node: Any, *keys: str) -> bool:
    return isinstance(node, dict) and all(
        node.get(k) is None or isinstance(node[k], str) for k in keys
    )


def _shaped(payload: Any) -> bool:
    if not _strings(
        payload, "type", "response_url", "trigger_id", "api_app_id", "token", "callback_id"
    ):
        return False
    for key in ("user", "team", "enterprise", "channel", "container", "view", "message"):
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            return False
    view = payload.get("view") or {}
    state = view.get("state") or {}
    actions = payload.get("actions")
    return (
        _strings(payload.get("user") or {}, "id")
        and _strings(view, "id", "hash", "private_metadata", "callback_id")
        and isinstance(state, dict)
        and isinstance(state.get("values") or {}, dict)
        and (
            actions is None
            or (
                isinstance(actions, list)
                and all(_strings(a, "action_id", "block_id", "value") for a in actions)
            )
        )
    )
