"""The ``views.*`` Web API methods: open, push and update a modal; publish a Home tab."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from bot.demo.standin.core import ACK_WAIT, ApiError
from bot.demo.standin.modals import Modals
from bot.demo.standin.workspace import ModalView


class ViewsMethods(Modals):
    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = self._use_trigger(params.get("trigger_id") or params.get("interactivity_pointer"))
        view = self._valid_view("views.open", params)
        modal = self._new_modal(view, trigger.user_id, str(params.get("trigger_id") or ""))
        return {"ok": True, "view": copy.deepcopy(modal.current)}

    def _views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger_id = str(params.get("trigger_id") or params.get("interactivity_pointer") or "")
        trigger = self._use_trigger(trigger_id)
        view = self._valid_view("views.push", params)
        stack = [v for v in self._state.views.values() if v.user_id == trigger.user_id and v.open]
        if len(stack) >= 3:
            raise ApiError("push_limit_reached")
        modal = self._new_modal(
            view, trigger.user_id, trigger_id, previous=stack[-1] if stack else None
        )
        return {"ok": True, "view": copy.deepcopy(modal.current)}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = params.get("view_id")
        external_id = params.get("external_id")
        modal: ModalView | None = None
        if view_id:
            modal = self._state.views.get(str(view_id))
        elif external_id:
            modal = next(
                (v for v in self._state.views.values() if v.open and v.external_id == external_id),
                None,
            )
        else:
            raise ApiError("invalid_arguments")
        if modal is None or not modal.open:
            raise ApiError("not_found")
        if modal.awaiting_ack:
            # Slack applies a submission's response_action when the ack arrives; an update
            # the app sends after writing its ack comes later, as it would in Slack.
            self._changed.wait_for(lambda: not modal.awaiting_ack, timeout=ACK_WAIT)
        if params.get("hash") and params["hash"] != modal.hash:
            raise ApiError("hash_conflict")
        view = self._valid_view("views.update", params)
        modal.versions.append(self._full_view(view, modal.id, modal))
        return {"ok": True, "view": copy.deepcopy(modal.current)}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = str(params.get("user_id") or "")
        if user_id not in self._state.users:
            raise ApiError("user_not_found")
        view = self._valid_view("views.publish", params)
        if view.get("type") != "home":
            raise ApiError("invalid_arguments")
        self.homes[user_id] = copy.deepcopy(view)
        self._changed.notify_all()
        return {"ok": True, "view": copy.deepcopy(view)}


METHODS: dict[str, Callable[[ViewsMethods, dict[str, Any]], dict[str, Any]]] = {
    "views.publish": ViewsMethods._views_publish,
    "views.open": ViewsMethods._views_open,
    "views.push": ViewsMethods._views_push,
    "views.update": ViewsMethods._views_update,
}
