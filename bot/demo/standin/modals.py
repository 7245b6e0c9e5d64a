"""Modals in the stand-in: trigger_ids, view checks, and opening, stacking and closing views."""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any

from bot.demo.standin import blockkit
from bot.demo.standin.core import ApiError, StandInCore, Trigger, Violation
from bot.demo.standin.workspace import APP_ID, BOT_ID, TEAM_ID, ModalView


class Modals(StandInCore):
    """How the stand-in's modals change (lock held)."""

    def _full_view(
        self, view: dict[str, Any], view_id: str, modal: ModalView | None
    ) -> dict[str, Any]:
        """The view object Slack answers with: ids, hash, state and defaults added."""
        full = copy.deepcopy(view)
        self._ids.fill(full.setdefault("blocks", []))
        root = view_id
        previous = None
        if modal is not None and modal.previous_view_id:
            previous = modal.previous_view_id
            root = str(self._state.views[previous].current.get("root_view_id", previous))
        full.update(
            {
                "id": view_id,
                "team_id": TEAM_ID,
                "app_id": APP_ID,
                "bot_id": BOT_ID,
                "app_installed_team_id": TEAM_ID,
                "state": {"values": {}},
                "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
                "root_view_id": root,
                "previous_view_id": previous,
            }
        )
        for key, default in (
            ("private_metadata", ""),
            ("callback_id", ""),
            ("external_id", ""),
            ("clear_on_close", False),
            ("notify_on_close", False),
        ):
            full.setdefault(key, default)
        return full

    def _new_modal(
        self,
        view: dict[str, Any],
        user_id: str,
        trigger_id: str | None,
        *,
        previous: ModalView | None = None,
    ) -> ModalView:
        view_id = f"V0{next(self._counter):08d}"
        modal = ModalView(
            id=view_id,
            user_id=user_id,
            trigger_id=trigger_id,
            previous_view_id=previous.id if previous else None,
        )
        modal.versions.append(self._full_view(view, view_id, modal))
        self._state.views[view_id] = modal
        return modal

    def _close(self, modal: ModalView, how: str, *, whole_stack: bool = False) -> None:
        modal.open = False
        modal.closed_by = how
        if whole_stack and modal.previous_view_id:
            previous = self._state.views.get(modal.previous_view_id)
            if previous is not None and previous.open:
                self._close(previous, how, whole_stack=True)

    def _use_trigger(self, trigger_id: Any) -> Trigger:
        trigger = self._triggers.get(str(trigger_id or ""))
        if trigger is None:
            raise ApiError("invalid_trigger_id")
        if trigger.used:
            raise ApiError("exchanged_trigger_id")
        if self.trigger_ttl is not None and time.monotonic() - trigger.created > self.trigger_ttl:
            raise ApiError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _valid_view(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        view = params.get("view")
        problems = blockkit.check_view(view)
        if problems:
            self._violations.append(Violation(method, problems, params))
            # Slack answers views.* with invalid_arguments and the JSON-pointer messages.
            raise ApiError("invalid_arguments", response_metadata={"messages": problems})
        assert isinstance(view, dict)
        return view
