"""Reading submitted modal values out of Slack's ``view.state.values``."""

from __future__ import annotations

from typing import Any


def form_values(view: dict[str, Any]) -> dict[str, str]:
    """block_id → the value typed or chosen (selects give their option value)."""
    out: dict[str, str] = {}
    state = (view.get("state") or {}).get("values") or {}
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
