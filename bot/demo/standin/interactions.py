"""What Slack does around the requests it sends the bot: trigger_ids, response_urls, acks."""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Mapping
from typing import Any

from bot.demo.standin import blockkit
from bot.demo.standin.core import ResponseTarget, Trigger, Violation
from bot.demo.standin.messages import Messages
from bot.demo.standin.modals import Modals
from bot.demo.standin.workspace import Command, Message


class Interactions(Messages, Modals):
    """The driver's hooks: what it mints for a request, and what Slack makes of the ack."""

    def new_trigger(self, user_id: str) -> str:
        trigger_id = f"{next(self._counter)}.{int(time.time())}.{secrets.token_hex(8)}"
        with self._lock:
            self._triggers[trigger_id] = Trigger(user_id=user_id, created=time.monotonic())
        return trigger_id

    def new_response_url(
        self,
        channel: str,
        user_id: str,
        *,
        message: Message | None = None,
        awaits_ack: bool = False,
    ) -> str:
        """A ``response_url``; ``message`` is what ``replace_original`` replaces (if any).

        With ``awaits_ack`` (a slash command's), posts to it wait until ``release_response_url``
        or ``apply_command_ack``: the bot's worker may post before its own ack has come back.
        """
        token = secrets.token_urlsafe(12)
        with self._lock:
            self._responses[token] = ResponseTarget(
                channel=channel,
                user_id=user_id,
                original=message,
                awaiting_ack=awaits_ack,
                ack_ts=self._next_ts() if awaits_ack else None,
            )
        return f"{self.url}/response/{token}"

    def release_response_url(self, response_url: str) -> None:
        """The command's delivery is over (acked or not): posts to its URL go ahead."""
        with self._changed:
            target = self._responses.get(_token_of(response_url))
            if target is not None:
                target.awaiting_ack = False
            self._changed.notify_all()

    def record_command(self, channel: str, user_id: str, command: str, text: str) -> None:
        with self._changed:
            self._ensure_channel(channel)
            self._state.commands.append(
                Command(
                    channel=channel, user=user_id, command=command, text=text, ts=self._next_ts()
                )
            )
            self._changed.notify_all()

    def apply_command_ack(self, response_url: str, body: Mapping[str, Any] | None) -> None:
        """A slash command's ack body is shown like a response_url post (ephemeral by default)."""
        with self._changed:
            self._record("ack", {"type": "slash_commands", "body": body}, 200, {"ok": True})
            target = self._responses.get(_token_of(response_url))
            if target is not None:
                target.awaiting_ack = False
            if body and (body.get("text") or body.get("blocks")):
                problems = blockkit.check_message(body.get("text"), body.get("blocks"))
                if problems:
                    self._violations.append(Violation("ack", problems, dict(body)))
                else:
                    self._respond(_token_of(response_url), dict(body), via="ack")
            self._changed.notify_all()

    def begin_view_submission(self, view_id: str) -> None:
        """A submission is on its way to the app: hold updates to the view until its ack."""
        with self._changed:
            modal = self._state.views.get(view_id)
            if modal is not None:
                modal.awaiting_ack = True

    def end_view_submission(self, view_id: str) -> None:
        """The submission got no ack (refused, timed out): stop holding updates."""
        with self._changed:
            modal = self._state.views.get(view_id)
            if modal is not None and modal.awaiting_ack:
                modal.awaiting_ack = False
                self._changed.notify_all()

    def apply_view_ack(self, view_id: str, body: Mapping[str, Any] | None) -> None:
        """What Slack does with a view_submission ack: close, show errors, update, push, clear."""
        with self._changed:
            self._record(
                "ack",
                {"type": "view_submission", "view_id": view_id, "body": body},
                200,
                {"ok": True},
            )
            modal = self._state.views.get(view_id)
            if modal is None:
                return
            modal.awaiting_ack = False
            modal.errors = {}
            action = (body or {}).get("response_action")
            if action is None:
                self._close(modal, "submit")
            elif action == "errors":
                errors = dict((body or {}).get("errors") or {})
                inputs = {str(b.get("block_id")) for b in modal.blocks if b.get("type") == "input"}
                unknown = sorted(set(errors) - inputs)
                if unknown:
                    self._violations.append(
                        Violation(
                            "ack", [f"errors for blocks that are not inputs: {unknown}"], body
                        )
                    )
                modal.errors = {str(k): str(v) for k, v in errors.items()}
            elif action in ("update", "push"):
                new_view = copy.deepcopy((body or {}).get("view"))
                problems = blockkit.check_view(new_view)
                if problems or not isinstance(new_view, dict):
                    self._violations.append(Violation("ack", problems, body))
                elif action == "update":
                    modal.versions.append(self._full_view(new_view, modal.id, modal))
                else:
                    self._new_modal(new_view, modal.user_id, None, previous=modal)
            elif action == "clear":
                self._close(modal, "clear", whole_stack=True)
            else:
                self._violations.append(
                    Violation("ack", [f"unknown response_action {action!r}"], body)
                )
            self._changed.notify_all()

    def apply_view_closed(self, view_id: str) -> None:
        with self._changed:
            modal = self._state.views.get(view_id)
            if modal is not None:
                self._close(modal, "close")
            self._changed.notify_all()

    def add_violation(self, method: str, problems: list[str], payload: Any = None) -> None:
        with self._changed:
            self._violations.append(Violation(method, problems, payload))
            self._changed.notify_all()


def _token_of(response_url: str) -> str:
    return response_url.rstrip("/").rsplit("/", 1)[-1]
