"""Slack's side toward the bot: signed slash commands, clicks and modal submissions."""

from __future__ import annotations

import copy
import json
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.demo.standin import elements
from bot.demo.standin.server import SlackStandIn
from bot.demo.standin.workspace import APP_ID, TEAM_DOMAIN, TEAM_ID, Message, ModalView

R = TypeVar("R")
Values = Mapping[str, str | Sequence[str] | None]
ACK_DEADLINE = 3.0
# Slack's deprecated per-app token in payloads; Bolt ignores it when signatures are checked.
VERIFICATION_TOKEN = "legacy-token"  # noqa: S105


@dataclass(frozen=True)
class Delivery:
    """How a request reaches the bot: signed properly (default) or broken for security tests."""

    signed: bool = True
    secret: str | None = None
    age: float = 0.0
    retry_num: int | None = None
    retry_reason: str = "http_timeout"


UNSIGNED = Delivery(signed=False)
WRONG_SIGNATURE = Delivery(secret="not-the-signing-secret")  # noqa: S106 (a deliberate wrong one)
STALE = Delivery(age=6 * 60)


def retried(num: int = 1, reason: str = "http_timeout") -> Delivery:
    """A redelivery, as Slack sends when the first attempt was not acked in time."""
    return Delivery(retry_num=num, retry_reason=reason)


def ack_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON an HTTP ack carried (``{}`` for an empty ack, ``{"text"}`` for plain text)."""
    if not response.content:
        return {}
    try:
        data = response.json()
    except ValueError:
        return {"text": response.text}
    return data if isinstance(data, dict) else {}


class _SlackSide(ABC, Generic[R]):
    """Builds the payloads Slack sends; subclasses deliver them over HTTP or Socket Mode."""

    def __init__(
        self,
        standin: SlackStandIn,
        *,
        verification_token: str = VERIFICATION_TOKEN,
        ack_deadline: float = ACK_DEADLINE,
    ) -> None:
        self.standin = standin
        self.verification_token = verification_token
        self.ack_deadline = ack_deadline
        self._last_trigger: dict[str, str] = {}

    @abstractmethod
    def _deliver(
        self, kind: str, payload: dict[str, Any], delivery: Delivery
    ) -> tuple[R, dict[str, Any] | None]:
        """Send one request; the result to return and the ack body (None if not acked)."""

    def home_opened(self, user_id: str, *, delivery: Delivery | None = None) -> R:
        """The person opens the app's Home tab: Slack sends the ``app_home_opened`` event."""
        payload = {
            "token": self.verification_token,
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "event": {
                "type": "app_home_opened",
                "user": user_id,
                "channel": self.standin.dm_channel(user_id),
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            },
        }
        result, _ = self._deliver("events_api", payload, delivery or Delivery())
        return result

    def command(
        self,
        user_id: str,
        text: str = "",
        *,
        command: str = "/reset-password",
        channel_id: str = "C0SUPPORT",
        delivery: Delivery | None = None,
    ) -> R:
        """Run a slash command; the ack's text shows up as an ephemeral like in Slack."""
        self.standin.record_command(channel_id, user_id, command, text)
        response_url = self.standin.new_response_url(channel_id, user_id, awaits_ack=True)
        fields = {
            "token": self.verification_token,
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": self._channel_name(channel_id),
            "user_id": user_id,
            "user_name": self._user_name(user_id),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": self._trigger(user_id),
        }
        try:
            result, ack = self._deliver("slash_commands", fields, delivery or Delivery())
            if ack is not None:
                self.standin.apply_command_ack(response_url, ack)
        finally:
            self.standin.release_response_url(response_url)
        return result

    def click(
        self,
        user_id: str,
        message: Message,
        action_id: str,
        *,
        value: str | None = None,
        allow_stale: bool = False,
        delivery: Delivery | None = None,
    ) -> R:
        """Click a button (or pick ``value`` in a select) in a message the stand-in holds.

        Clicking an element the message no longer shows needs ``allow_stale`` (a client that
        has not refreshed yet); otherwise it is a mistake in the test.
        """
        current = self.standin.message(message.channel, message.ts) or message
        block_id, element = elements.find_element(current, action_id, allow_stale=allow_stale)
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": current.ts,
            "channel_id": current.channel,
            "is_ephemeral": current.is_ephemeral,
        }
        if current.is_reply:
            container["thread_ts"] = current.thread_ts
        payload: dict[str, Any] = {
            "type": "block_actions",
            **self._who(user_id),
            "container": container,
            "trigger_id": self._trigger(user_id),
            "channel": {"id": current.channel, "name": self._channel_name(current.channel)},
            "state": {"values": {}},
            "response_url": self.standin.new_response_url(
                current.channel, user_id, message=current
            ),
            "actions": [elements.action(block_id, element, value)],
        }
        if not current.is_ephemeral:
            payload["message"] = current.as_payload()
        result, _ = self._deliver("interactive", payload, delivery or Delivery())
        return result

    def view_action(
        self,
        user_id: str,
        view: ModalView | str,
        action_id: str,
        value: str | Sequence[str] | None = None,
        *,
        values: Values | None = None,
        delivery: Delivery | None = None,
    ) -> R:
        """Interact with an element in an open modal (a select with ``dispatch_action``...)."""
        modal = self._modal(view)
        current = copy.deepcopy(modal.current)
        block_id, element = elements.find_in_blocks(current.get("blocks") or [], action_id)
        chosen = dict(values or {})
        chosen.setdefault(block_id, value)
        current["state"] = {"values": elements.state_values(current, chosen, require=False)}
        action = elements.action(block_id, element, value)
        action.update(current["state"]["values"].get(block_id, {}).get(action_id, {}))
        payload: dict[str, Any] = {
            "type": "block_actions",
            **self._who(user_id),
            "container": {"type": "view", "view_id": modal.id},
            "trigger_id": self._trigger(user_id),
            "view": current,
            "actions": [action],
        }
        result, _ = self._deliver("interactive", payload, delivery or Delivery())
        return result

    def submit_view(
        self,
        user_id: str,
        view: ModalView | str,
        values: Values | None = None,
        *,
        delivery: Delivery | None = None,
    ) -> R:
        """Submit a modal; ``values`` maps block_id (or action_id) to what the person entered.

        Strings for text inputs and single selects (the option *value*), lists for
        multi-selects and checkboxes. Untouched fields keep their initial value; an empty
        required field or an unknown option raises ``ValueError`` (Slack would not let the
        person submit). The ack's ``response_action`` is applied to the stand-in's modal.
        """
        modal = self._modal(view)
        current = copy.deepcopy(modal.current)
        current["state"] = {
            "values": elements.state_values(current, dict(values or {}), require=True)
        }
        payload: dict[str, Any] = {
            "type": "view_submission",
            **self._who(user_id),
            "trigger_id": self._trigger(user_id),
            "view": current,
            "response_urls": [],
        }
        self.standin.begin_view_submission(modal.id)
        try:
            result, ack = self._deliver("interactive", payload, delivery or Delivery())
        except BaseException:
            self.standin.end_view_submission(modal.id)
            raise
        if ack is not None:
            self.standin.apply_view_ack(modal.id, ack)  # applies it, then lets updates through
        else:
            self.standin.end_view_submission(modal.id)
        return result

    def view_closed(
        self, user_id: str, view: ModalView | str, *, delivery: Delivery | None = None
    ) -> R | None:
        """Close a modal with its ✕; the bot hears of it only if it asked (notify_on_close)."""
        modal = self._modal(view)
        self.standin.apply_view_closed(modal.id)
        if not modal.current.get("notify_on_close"):
            return None
        payload = {
            "type": "view_closed",
            **self._who(user_id),
            "view": copy.deepcopy(modal.current),
            "is_cleared": False,
        }
        result, _ = self._deliver("interactive", payload, delivery or Delivery())
        return result

    def last_trigger(self, user_id: str) -> str:
        return self._last_trigger[user_id]

    def last_opened_view(self, user_id: str, timeout: float = 5.0) -> ModalView:
        """The modal the bot opened with this user's latest trigger_id (waits for it)."""
        trigger = self._last_trigger.get(user_id)
        if trigger is None:
            raise AssertionError(f"{user_id} has done nothing that gives a trigger_id")
        return self.standin.wait_until(
            lambda: self.standin.view_for_trigger(trigger),
            timeout,
            what=f"a modal opened for {user_id}",
        )

    def latest_message(
        self,
        channel: str | None = None,
        *,
        containing: str | None = None,
        with_buttons: bool = False,
        ephemeral_to: str | None = None,
        timeout: float = 5.0,
    ) -> Message:
        return self.standin.wait_for_message(
            channel,
            containing=containing,
            with_buttons=with_buttons,
            ephemeral_to=ephemeral_to,
            timeout=timeout,
        )

    def _trigger(self, user_id: str) -> str:
        trigger = self.standin.new_trigger(user_id)
        self._last_trigger[user_id] = trigger
        return trigger

    def _who(self, user_id: str) -> dict[str, Any]:
        name = self._user_name(user_id)
        return {
            "user": {"id": user_id, "username": name, "name": name, "team_id": TEAM_ID},
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "api_app_id": APP_ID,
            "token": self.verification_token,
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _user_name(self, user_id: str) -> str:
        user = self.standin.user(user_id)
        return user.name if user else user_id.lower()

    def _channel_name(self, channel_id: str) -> str:
        if channel_id.startswith("D"):
            return "directmessage"
        return self.standin.channel_name(channel_id)

    def _modal(self, view: ModalView | str) -> ModalView:
        view_id = view if isinstance(view, str) else view.id
        modal = self.standin.view(view_id)
        if modal is None:
            raise LookupError(f"the stand-in has no view {view_id}")
        if not modal.open:
            raise LookupError(f"view {view_id} is closed ({modal.closed_by}); nobody can use it")
        return modal

    def _check_ack_time(self, kind: str, elapsed: float) -> None:
        if elapsed > self.ack_deadline:
            self.standin.add_violation(
                "ack",
                [
                    f"{kind} acked after {elapsed:.2f}s (Slack gives up after "
                    f"{self.ack_deadline:.0f}s and shows the person an error)"
                ],
            )


class SlackDriver(_SlackSide[httpx.Response]):
    """Posts signed requests to the bot's ``events_url`` like Slack; returns the httpx.Response."""

    def __init__(
        self,
        standin: SlackStandIn,
        events_url: str,
        signing_secret: str,
        *,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        verification_token: str = VERIFICATION_TOKEN,
        ack_deadline: float = ACK_DEADLINE,
    ) -> None:
        super().__init__(standin, verification_token=verification_token, ack_deadline=ack_deadline)
        self.events_url = events_url
        self.signing_secret = signing_secret
        self._own_client = client is None
        self.http = client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        if self._own_client:
            self.http.close()

    def __enter__(self) -> SlackDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def signed_headers(self, body: str, delivery: Delivery = Delivery()) -> dict[str, str]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        timestamp = str(int(time.time() - delivery.age))
        if delivery.signed:
            # The verifier's own generator, so both sides agree by construction.
            verifier = SignatureVerifier(delivery.secret or self.signing_secret)
            signature = verifier.generate_signature(timestamp=timestamp, body=body)
            headers["X-Slack-Request-Timestamp"] = timestamp
            headers["X-Slack-Signature"] = str(signature)
        if delivery.retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(delivery.retry_num)
            headers["X-Slack-Retry-Reason"] = delivery.retry_reason
        return headers

    def post(self, body: str, delivery: Delivery = Delivery()) -> httpx.Response:
        """Post a raw form body to the bot, signed per ``delivery``."""
        return self.http.post(
            self.events_url,
            content=body.encode("utf-8"),
            headers=self.signed_headers(body, delivery),
        )

    def _deliver(
        self, kind: str, payload: dict[str, Any], delivery: Delivery
    ) -> tuple[httpx.Response, dict[str, Any] | None]:
        started = time.monotonic()
        if kind == "events_api":  # the Events API posts JSON
            body = json.dumps(payload)
            headers = self.signed_headers(body, delivery)
            headers["Content-Type"] = "application/json"
            response = self.http.post(self.events_url, content=body.encode(), headers=headers)
            self._check_ack_time(kind, time.monotonic() - started)
            return response, None
        if kind == "slash_commands":
            body = urlencode(payload)
        else:
            body = urlencode({"payload": json.dumps(payload)})
        response = self.post(body, delivery)
        self._check_ack_time(kind, time.monotonic() - started)
        return response, ack_body(response) if response.status_code == 200 else None


class SocketModeDriver(_SlackSide[dict[str, Any]]):
    """Delivers the same payloads as Socket Mode envelopes; returns the ack's payload."""

    def __init__(
        self,
        standin: SlackStandIn,
        *,
        timeout: float = 5.0,
        verification_token: str = VERIFICATION_TOKEN,
        ack_deadline: float = ACK_DEADLINE,
    ) -> None:
        super().__init__(standin, verification_token=verification_token, ack_deadline=ack_deadline)
        self.timeout = timeout

    def _deliver(
        self, kind: str, payload: dict[str, Any], delivery: Delivery
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        started = time.monotonic()
        ack = self.standin.socket_mode.deliver(kind, payload, timeout=self.timeout)
        self._check_ack_time(kind, time.monotonic() - started)
        return ack, ack
