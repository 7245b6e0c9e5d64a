"""The sandbox servers themselves: cheap to start, clean to stop, and their knobs."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import httpx
import pytest

from bot.demo.sandboxes import SANDBOX_KINDS, start_sandbox


def listening(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) == 0


@pytest.mark.parametrize("kind", list(SANDBOX_KINDS))
def test_stop_leaves_no_thread_and_no_listening_socket(kind: str) -> None:
    """After stop() the port is closed and no sandbox thread is alive, even mid-request."""
    before = set(threading.enumerate())
    sb = start_sandbox(kind)
    sb.inject("other", fault="timeout")  # the next unrouted request is held open
    url = sb.url
    assert listening(url)

    def held() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{url}/not-an-endpoint", timeout=10.0)

    caller = threading.Thread(target=held)
    caller.start()
    sb.wait_for_calls(1, step="other")
    sb.stop()
    sb.stop()  # idempotent
    caller.join(5)
    assert not listening(url)
    assert set(threading.enumerate()) - before == set()


def test_held_request_is_released_by_stop() -> None:
    """A request held by a timeout fault does not delay stop()."""
    sb = start_sandbox("f5xc")
    sb.inject("check", fault="timeout")
    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.get(f"{sb.url}/api/web/custom/namespaces/system/whoami", timeout=10.0)
        except httpx.HTTPError as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    sb.wait_for_calls(1, step="check")
    started = time.monotonic()
    sb.stop()
    caller.join(5)
    assert time.monotonic() - started < 2.0 and errors


def test_many_sandboxes_start_quickly() -> None:
    """Tests start many: twenty start and stop in well under two seconds."""
    started = time.monotonic()
    for index in range(20):
        with start_sandbox(list(SANDBOX_KINDS)[index % 4]) as sb:
            assert sb.url.startswith("http://127.0.0.1:")
    assert time.monotonic() - started < 2.0


def test_settings_dict_holds_accepted_credentials() -> None:
    """settings_dict() is a ready [providers.<name>] table."""
    with start_sandbox("tyk") as sb:
        settings = sb.settings_dict()
        assert settings["kind"] == "tyk" and settings["base_url"] == sb.url
        assert {"admin_secret", "dashboard_key"} <= settings.keys()
        assert "dashboard_key" not in sb.settings_dict(dashboard_key=False)


def test_wait_for_calls_returns_once_enough_calls_arrived() -> None:
    """It blocks on a condition until the calls arrive, then returns them."""
    with start_sandbox("mighty_networks") as sb:
        uid = sb.add_user(email="ann@example.com", name="Ann Lee")
        url = f"{sb.url}/admin/v1/networks/acme/members/{uid}/password_resets"
        headers = {"Authorization": f"Bearer {sb.token}"}
        threading.Timer(0.05, lambda: httpx.post(url, headers=headers)).start()
        calls = sb.wait_for_calls(1, step="action", timeout=5.0)
        assert calls[0].path.endswith("/password_resets") and calls[0].status == 204


def test_wait_for_calls_times_out_with_a_clear_error() -> None:
    """No call in time: TimeoutError saying how many were seen."""
    with start_sandbox("unleash") as sb, pytest.raises(TimeoutError, match="saw 0"):
        sb.wait_for_calls(1, timeout=0.05)


def test_injection_counts_down_and_then_stops() -> None:
    """times=2 affects exactly two requests of that step."""
    with start_sandbox("unleash") as sb:
        sb.inject("check", status=500, times=2)
        url = f"{sb.url}/api/admin/user-admin/admin-count"
        codes = [
            httpx.get(url, headers={"Authorization": sb.admin_token}).status_code for _ in range(3)
        ]
        assert codes == [500, 500, 200]


def test_inject_rejects_nonsense() -> None:
    """An injection needs a status or a known fault."""
    with start_sandbox("tyk") as sb:
        with pytest.raises(ValueError, match="status or a fault"):
            sb.inject("action")
        with pytest.raises(ValueError, match="unknown fault"):
            sb.inject("action", fault="explode")  # type: ignore[arg-type]


def test_per_step_latency_only_slows_that_step() -> None:
    """set_latency("action", …) leaves look-ups fast."""
    with start_sandbox("f5xc") as sb:
        sb.set_latency("action", 0.3)
        headers = {"Authorization": f"APIToken {sb.token}"}
        started = time.monotonic()
        httpx.get(f"{sb.url}/api/web/custom/namespaces/system/whoami", headers=headers)
        assert time.monotonic() - started < 0.25
        started = time.monotonic()
        httpx.post(
            f"{sb.url}/api/web/custom/password/admin_reset",
            headers=headers,
            json={"email": "x@example.com"},
        )
        assert time.monotonic() - started >= 0.3


def test_unknown_kind_is_refused() -> None:
    """Only the four kinds have sandboxes."""
    with pytest.raises(ValueError, match="no sandbox for kind 'okta'"):
        start_sandbox("okta")
