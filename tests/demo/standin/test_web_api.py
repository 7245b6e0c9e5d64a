"""The stand-in answers slack_sdk's WebClient like Slack: state, errors, validation, waiting."""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import (
    FixedValueRetryIntervalCalculator,
)

from bot.demo.standin import BOT_USER_ID, SlackStandIn
from tests.demo.standin.standin_support import ALICE, SUPPORT


@pytest.fixture
def client(standin: SlackStandIn) -> WebClient:
    return WebClient(token=standin.bot_token, base_url=standin.api_url)


def error_of(exc: pytest.ExceptionInfo[SlackApiError]) -> Any:
    return exc.value.response["error"]


SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}


class TestLifecycle:
    def test_stop_leaves_no_threads_or_listening_socket(self) -> None:
        """After the context manager, the port is free and no stand-in thread runs."""
        with SlackStandIn() as s:
            WebClient(token=s.bot_token, base_url=s.api_url).auth_test()
            port = int(s.url.rsplit(":", 1)[1])
            assert s.api_url.endswith("/api/")
        assert not [t for t in threading.enumerate() if t.name.startswith("slack-standin")]
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0


class TestAuth:
    def test_auth_test_names_the_bot(self, client: WebClient) -> None:
        """auth.test answers with the bot user, as Bolt expects at start-up."""
        data = client.auth_test().data
        assert isinstance(data, dict) and data["user_id"] == BOT_USER_ID and data["bot_id"]

    def test_wrong_or_missing_token_is_refused(self, standin: SlackStandIn) -> None:
        """A wrong token is invalid_auth, none at all is not_authed, the app token is no bot."""
        for token, error in (
            ("xoxb-wrong", "invalid_auth"),
            (None, "not_authed"),
            (standin.app_token, "not_allowed_token_type"),
        ):
            with pytest.raises(SlackApiError) as exc:
                WebClient(token=token, base_url=standin.api_url).chat_postMessage(
                    channel=SUPPORT, text="x"
                )
            assert error_of(exc) == error
        assert standin.messages() == []


class TestMessages:
    def test_post_update_and_history(self, client: WebClient, standin: SlackStandIn) -> None:
        """chat.update edits in place and keeps the earlier version."""
        ts = client.chat_postMessage(channel=SUPPORT, text="one", blocks=[SECTION])["ts"]
        client.chat_update(channel=SUPPORT, ts=ts, text="two")
        [message] = standin.messages(SUPPORT)
        assert (message.text, message.blocks[0]["text"]["text"]) == ("two", "hello")
        assert [v.text for v in message.history] == ["one"]
        with pytest.raises(SlackApiError) as exc:
            client.chat_update(channel=SUPPORT, ts="1.000001", text="x")
        assert error_of(exc) == "message_not_found"

    def test_ts_is_strictly_increasing(self, client: WebClient) -> None:
        """Messages posted in the same microsecond still get distinct, ordered ts."""
        stamps = [client.chat_postMessage(channel=SUPPORT, text=str(i))["ts"] for i in range(20)]
        assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 20

    def test_form_encoded_blocks_are_decoded(
        self, client: WebClient, standin: SlackStandIn
    ) -> None:
        """Blocks sent as a JSON string in a form body are understood like JSON bodies."""
        client.api_call(
            "chat.postMessage",
            data={"channel": SUPPORT, "text": "t", "blocks": json.dumps([SECTION])},
        )
        call = standin.wait_for("chat.postMessage")
        assert call.params["blocks"][0]["type"] == "section"

    def test_dm_ids_are_stable_and_posts_land_there(
        self, client: WebClient, standin: SlackStandIn
    ) -> None:
        """conversations.open gives one D… id per user; posting to it is the user's DM."""
        first = client.conversations_open(users=ALICE)["channel"]["id"]
        again = client.conversations_open(users=ALICE)["channel"]["id"]
        assert first == again == standin.dm_channel(ALICE) and first.startswith("D")
        client.chat_postMessage(channel=first, text="your link")
        client.chat_postMessage(channel=ALICE, text="by user id")
        assert [m.text for m in standin.dms(ALICE)] == ["your link", "by user id"]

    def test_ephemerals_are_kept_per_channel_and_user(
        self, client: WebClient, standin: SlackStandIn
    ) -> None:
        client.chat_postEphemeral(channel=SUPPORT, user=ALICE, text="psst")
        assert [m.text for m in standin.ephemerals(SUPPORT, ALICE)] == ["psst"]
        assert standin.messages(SUPPORT) == []

    def test_strict_channels(self) -> None:
        """With strict_channels, unknown channels are not found and non-member ones refuse."""
        with SlackStandIn(strict_channels=True) as s:
            s.add_channel("C0PRIVATE", "private", bot_member=False)
            c = WebClient(token=s.bot_token, base_url=s.api_url)
            for channel, error in (
                ("C0NOPE", "channel_not_found"),
                ("C0PRIVATE", "not_in_channel"),
            ):
                with pytest.raises(SlackApiError) as exc:
                    c.chat_postMessage(channel=channel, text="x")
                assert error_of(exc) == error

    def test_users_info(self, client: WebClient) -> None:
        user = client.users_info(user=ALICE)["user"]
        assert (user["name"], user["real_name"], user["tz"]) == ("alice", "Alice Archer", "UTC")
        with pytest.raises(SlackApiError) as exc:
            client.users_info(user="U0NOBODY")
        assert error_of(exc) == "user_not_found"


class TestValidation:
    @pytest.mark.parametrize(
        "blocks",
        [
            [{"type": "sektion", "text": {"type": "mrkdwn", "text": "x"}}],
            [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
            [SECTION] * 51,
            [{"type": "actions", "elements": [{"type": "buton", "action_id": "a"}]}],
            [{"type": "section", "text": "a bare string"}],
            [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "colour": "red"}],
            [{**SECTION, "block_id": "same"}, {**SECTION, "block_id": "same"}],
        ],
        ids=[
            "unknown-type",
            "long-text",
            "51-blocks",
            "unknown-element",
            "string-text",
            "unknown-field",
            "duplicate-block-id",
        ],
    )
    def test_invalid_blocks_are_refused_and_recorded(
        self, client: WebClient, standin: SlackStandIn, blocks: list[Any]
    ) -> None:
        """Slack's answer is invalid_blocks; the violation is kept for the test to see."""
        with pytest.raises(SlackApiError) as exc:
            client.chat_postMessage(channel=SUPPORT, text="t", blocks=blocks)
        assert error_of(exc) == "invalid_blocks"
        assert exc.value.response["response_metadata"]["messages"]
        [violation] = standin.violations
        assert violation.method == "chat.postMessage" and violation.problems
        assert standin.messages() == []

    def test_invalid_view_is_refused_and_recorded(
        self, client: WebClient, standin: SlackStandIn
    ) -> None:
        """A modal title over 24 characters fails views.open with invalid_arguments."""
        trigger = standin.new_trigger(ALICE)
        view = {
            "type": "modal",
            "title": {"type": "plain_text", "text": "x" * 25},
            "blocks": [SECTION],
        }
        with pytest.raises(SlackApiError) as exc:
            client.views_open(trigger_id=trigger, view=view)
        assert error_of(exc) == "invalid_arguments"
        assert "24" in standin.violations[0].problems[0]


MODAL = {
    "type": "modal",
    "title": {"type": "plain_text", "text": "Hi"},
    "external_id": "form-1",
    "blocks": [SECTION],
}


class TestViews:
    def test_triggers_are_single_use(self, client: WebClient, standin: SlackStandIn) -> None:
        trigger = standin.new_trigger(ALICE)
        view = client.views_open(trigger_id=trigger, view=MODAL)["view"]
        assert view["id"].startswith("V") and view["hash"] and view["state"] == {"values": {}}
        for trigger_id, error in (
            (trigger, "exchanged_trigger_id"),
            ("1.2.bogus", "invalid_trigger_id"),
        ):
            with pytest.raises(SlackApiError) as exc:
                client.views_open(trigger_id=trigger_id, view=MODAL)
            assert error_of(exc) == error

    def test_update_by_id_or_external_id_with_hash_checks(
        self, client: WebClient, standin: SlackStandIn
    ) -> None:
        view = client.views_open(trigger_id=standin.new_trigger(ALICE), view=MODAL)["view"]
        updated = client.views_update(external_id="form-1", view=MODAL)["view"]
        assert updated["id"] == view["id"] and updated["hash"] != view["hash"]
        with pytest.raises(SlackApiError) as exc:
            client.views_update(view_id=view["id"], hash=view["hash"], view=MODAL)
        assert error_of(exc) == "hash_conflict"
        modal = standin.view(view["id"])
        assert modal is not None and len(modal.versions) == 2 and modal.user_id == ALICE


class TestFailureInjection:
    def test_ratelimited_is_a_429_with_retry_after(
        self, client: WebClient, standin: SlackStandIn
    ) -> None:
        """Without a retry handler the client sees ratelimited, HTTP 429 and Retry-After."""
        standin.fail_next("chat.postMessage", retry_after=7)
        with pytest.raises(SlackApiError) as exc:
            client.chat_postMessage(channel=SUPPORT, text="x")
        assert exc.value.response.status_code == 429 and error_of(exc) == "ratelimited"
        assert exc.value.response.headers["Retry-After"] in ("7", ["7"])
        assert standin.messages() == [] and standin.calls[-1].injected

    def test_retry_handler_gets_through(self, standin: SlackStandIn) -> None:
        """slack_sdk's RateLimitErrorRetryHandler waits Retry-After and the retry lands."""
        client = WebClient(
            token=standin.bot_token,
            base_url=standin.api_url,
            retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
        )
        standin.fail_next("chat.postMessage", retry_after=0)
        client.chat_postMessage(channel=SUPPORT, text="x")
        assert [c.status for c in standin.calls_to("chat.postMessage")] == [429, 200]
        assert [m.text for m in standin.messages(SUPPORT)] == ["x"]

    def test_server_errors_are_plain_5xx(self, client: WebClient, standin: SlackStandIn) -> None:
        standin.fail_next("users.info", status=503, times=2)
        for _ in range(2):
            with pytest.raises(SlackApiError) as exc:
                client.users_info(user=ALICE)
            assert exc.value.response.status_code == 503
        assert client.users_info(user=ALICE)["ok"]
        quick = FixedValueRetryIntervalCalculator(fixed_internal=0.01)
        retrying = WebClient(
            token=standin.bot_token,
            base_url=standin.api_url,
            retry_handlers=[ServerErrorRetryHandler(max_retry_count=1, interval_calculator=quick)],
        )
        standin.fail_next("users.info", status=503)
        assert retrying.users_info(user=ALICE)["ok"]

    def test_other_errors(self, client: WebClient, standin: SlackStandIn) -> None:
        standin.fail_next("conversations.open", "user_disabled")
        with pytest.raises(SlackApiError) as exc:
            client.conversations_open(users=ALICE)
        assert exc.value.response.status_code == 200 and error_of(exc) == "user_disabled"


class TestResponseUrls:
    def test_ephemeral_then_replace_then_delete(self, standin: SlackStandIn) -> None:
        """The first post is an ephemeral; replace_original edits it; delete_original hides it."""
        hook = WebhookClient(standin.new_response_url(SUPPORT, ALICE))
        assert hook.send(text="working…").status_code == 200
        hook.send(text="done", replace_original=True)
        [shown] = standin.ephemerals(SUPPORT, ALICE)
        assert shown.text == "done" and shown.edited
        hook.send(text="bye", delete_original=True)
        assert standin.ephemerals(SUPPORT, ALICE) == []

    def test_in_channel_and_replacing_a_clicked_message(
        self, client: WebClient, standin: SlackStandIn
    ) -> None:
        ts = client.chat_postMessage(channel=SUPPORT, text="orig")["ts"]
        message = standin.message(SUPPORT, ts)
        hook = WebhookClient(standin.new_response_url(SUPPORT, ALICE, message=message))
        hook.send(text="for everyone", response_type="in_channel")
        hook.send(text="replaced", replace_original=True)
        assert [m.text for m in standin.messages(SUPPORT)] == ["replaced", "for everyone"]
        calls = standin.calls_to("response_url")
        assert [c.params.get("response_type") for c in calls] == ["in_channel", None]

    def test_invalid_blocks_and_unknown_urls(self, standin: SlackStandIn) -> None:
        hook = WebhookClient(standin.new_response_url(SUPPORT, ALICE))
        assert hook.send(text="x", blocks=[{"type": "nope"}]).status_code == 400
        assert standin.violations[0].method == "response_url"
        assert httpx.post(f"{standin.url}/response/nope", json={"text": "x"}).status_code == 404


class TestWaiting:
    def test_wait_for_returns_the_call_made_by_another_thread(
        self, client: WebClient, standin: SlackStandIn
    ) -> None:
        since = standin.mark()
        worker = threading.Thread(
            target=lambda: client.chat_postMessage(channel=SUPPORT, text="later")
        )
        worker.start()
        call = standin.wait_for("chat.postMessage", since=since, channel=SUPPORT)
        worker.join()
        assert call.params["text"] == "later" and call.ok

    def test_timeout_names_the_recent_calls(self, client: WebClient, standin: SlackStandIn) -> None:
        client.auth_test()
        with pytest.raises(AssertionError, match=r"(?s)views\.open.*auth\.test -> ok"):
            standin.wait_for("views.open", timeout=0.05)
        with pytest.raises(AssertionError, match="matching the predicate"):
            standin.wait_for(lambda c: c.method == "chat.update", timeout=0.05)
