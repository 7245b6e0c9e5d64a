"""Background work gives way to acknowledgements (bot.ackfirst), with real threads and time."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

import pytest

from bot.ackfirst import AckFirst
from bot.rig import Rig, wait_for
from bot.standin import UNSIGNED


def started_in_thread(gate: AckFirst) -> tuple[threading.Thread, list[tuple[float, bool]]]:
    got: list[tuple[float, bool]] = []

    def run() -> None:
        forced = gate.begin()
        got.append((time.monotonic(), forced))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, got


def test_nothing_in_flight_lets_work_start_at_once() -> None:
    gate = AckFirst(quiet=0.01, patience=5)
    began = time.monotonic()
    assert gate.begin() is False
    assert time.monotonic() - began < 0.5


def test_work_waits_until_the_ack_is_written_and_a_quiet_moment_passed() -> None:
    gate = AckFirst(quiet=0.05, patience=5)
    gate.request_started()
    thread, got = started_in_thread(gate)
    time.sleep(0.3)
    assert got == []  # still waiting: Slack is waiting for an answer
    answered = time.monotonic()
    gate.request_answered()
    thread.join(2)
    ((at, forced),) = got
    assert forced is False
    assert 0.05 <= at - answered < 1.0


def test_under_a_sustained_burst_a_few_tasks_still_progress() -> None:
    gate = AckFirst(quiet=0.01, patience=0.2, under_load=1)
    gate.request_started()  # never answered while this test runs: a burst that does not end
    began = time.monotonic()
    first, got_first = started_in_thread(gate)
    first.join(2)
    ((at, forced),) = got_first
    assert forced is True
    assert 0.2 <= at - began < 1.5  # after its patience ran out, not before

    second, got_second = started_in_thread(gate)
    time.sleep(0.5)
    assert got_second == []  # the one slot under load is taken
    gate.end(True)
    second.join(2)
    assert [forced for _, forced in got_second] == [True]
    gate.end(True)
    gate.request_answered()


def test_a_backlog_waits_in_line_without_losing_any_task() -> None:
    gate = AckFirst(quiet=0.01, patience=5)
    gate.request_started()
    waiting = [started_in_thread(gate) for _ in range(20)]
    time.sleep(0.2)
    assert all(got == [] for _, got in waiting)
    gate.request_answered()
    for thread, _ in waiting:
        thread.join(2)
    assert [forced for _, got in waiting for _, forced in got] == [False] * 20


def test_the_http_layer_marks_every_request_until_its_response_is_written(rig: Rig) -> None:
    """The real endpoint: accepted, refused (unsigned) and unreadable requests all end."""
    gate = rig.runtime.ack_first
    assert rig.say("alice", "status").status_code == 200
    assert rig.driver.command("U0ALICE", "status", delivery=UNSIGNED).status_code == 401
    unreadable = urllib.request.Request(  # noqa: S310
        rig.events_url, data=b"payload=%7Bnot-json", method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unreadable, timeout=5)  # noqa: S310
    assert refused.value.code == 400
    # The server calls close() just after the last byte went out: wait for it.
    wait_for(lambda: gate.in_flight == 0, 5, "every request to be marked answered")


def test_pool_work_waits_for_an_ack_in_flight_and_decisions_do_not(rig: Rig) -> None:
    gate = rig.runtime.ack_first
    ran: list[str] = []
    gate.request_started()  # as the HTTP layer does while Bolt answers Slack
    try:
        follow_up = rig.runtime.submit(ran.append, "follow-up")
        decision = rig.runtime.submit(ran.append, "decision", yield_to_acks=False)
        decision.result(2)
        time.sleep(0.2)
        assert ran == ["decision"]
    finally:
        gate.request_answered()
    follow_up.result(2)
    assert ran == ["decision", "follow-up"]
