"""A server killed while a provider call is in flight: the request ends `unknown`, called once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.demo.rig import SUPPORT, prepare_store, wait_for
from bot.demo.sandboxes import Sandbox, start_sandbox
from bot.demo.standin import SlackStandIn
from bot.slack import blocks
from bot.store.db import Store
from bot.store.models import AuditEvent, RequestState, ResetRequest
from tests.reliability.reliability_support import (
    Served,
    approval_message,
    bot_settings,
    count,
    only_request,
    slack_world,
)

LEASE = 2.0  # seconds; production default is 30


def call_in_flight(bot: Served, standin: SlackStandIn, sandbox: Sandbox, store: Store) -> None:
    """Through ``bot``: alice files, bob approves, and the provider acts but holds its answer,
    like a call in flight when the box dies. Returns once the provider has the call."""
    driver = bot.driver(standin)
    driver.command("U0ALICE", "community tom@example.com locked out", channel_id=SUPPORT)
    req = wait_for(
        lambda: (r := only_request(store)) and r.approval_ts and r, 15, "the approval message"
    )
    sandbox.hold_seconds = 120
    sandbox.inject("action", fault="timeout")
    driver.click("U0BOB", approval_message(standin, req), blocks.APPROVE_ACTION)
    driver.submit_view("U0BOB", driver.last_opened_view("U0BOB"), {})
    sandbox.wait_for_calls(1, timeout=15)


@pytest.fixture
def world() -> Iterator[tuple[SlackStandIn, Sandbox]]:
    standin = slack_world()
    sandbox = start_sandbox("mighty_networks")
    sandbox.add_user(email="tom@example.com", name="Tom Taylor")
    try:
        yield standin, sandbox
    finally:
        sandbox.stop()
        standin.stop()


class TestCrashMidCall:
    def test_killed_during_the_call_ends_unknown_and_is_never_called_again(
        self, tmp_path: Path, world: tuple[SlackStandIn, Sandbox]
    ) -> None:
        """SIGKILL while the provider holds the call; after a restart the request is reported
        `unknown` (message, thread, requester) within the lease, and never dispatched again."""
        standin, sandbox = world
        url = f"sqlite:///{tmp_path / 'resetbot.db'}"
        store = prepare_store(url)
        provider = {**sandbox.settings_dict(), "timeout_seconds": 30, "max_retries": 1}
        settings = bot_settings(
            standin,
            url,
            {"community": provider},
            sweep_interval_seconds=0.25,
            dispatch_lease_seconds=LEASE,
        )

        first = Served(tmp_path, settings, name="first").start()
        try:
            call_in_flight(first, standin, sandbox, store)
            assert only_request(store).state is RequestState.DISPATCHING  # type: ignore[union-attr]
            first.kill()
            count("crashes")
        finally:
            first.kill()

        killed_at = time.monotonic()
        second = Served(tmp_path, settings, name="second").start()
        try:
            done: ResetRequest = wait_for(
                lambda: (r := only_request(store)) and r.state.is_final and r,
                20,
                "the interrupted request to be recovered",
            )
            recovered_after = time.monotonic() - killed_at
            assert done.state is RequestState.UNKNOWN, done.state
            assert done.outcome_kind == "outcome_unknown"
            # The requester hears it, the message says it, and the thread has it.
            wait_for(
                lambda: any("unknown" in m.all_text().lower() for m in standin.dms("U0ALICE")),
                10,
                "the requester's DM",
            )
            wait_for(
                lambda: (
                    "Outcome unknown — verify at the provider"
                    in approval_message(standin, done).all_text()
                ),
                10,
                "the message update",
            )
            assert approval_message(standin, done).buttons() == []
            with store.session() as s:
                actions = list(
                    s.scalars(select(AuditEvent.action).where(AuditEvent.request_id == done.id))
                )
            assert actions.count("request.dispatching") == 1
            assert actions.count("request.unknown") == 1
            thread = standin.thread(done.approval_channel or "", done.approval_ts or "")
            assert any("unknown" in m.all_text().lower() for m in thread)
            # A few more sweeps: nothing calls the provider again on its own.
            time.sleep(1.0)
            assert len(sandbox.action_calls()) == 1
            assert only_request(store).state is RequestState.UNKNOWN  # type: ignore[union-attr]
        finally:
            second.stop()
        assert "Traceback" not in first.stderr() + second.stderr()
        assert recovered_after < 15, recovered_after
        print(f"recovered {recovered_after:.1f}s after the kill (lease {LEASE:g}s)")


class TestLease:
    def test_a_live_dispatch_keeps_its_lease_however_long_the_call(self, make_rig: object) -> None:
        """A replica's sweep never reports another replica's running call as unknown."""
        from bot.demo.rig import Rig

        rig: Rig = make_rig(
            settings_options={"dispatch_lease_seconds": 3},  # type: ignore[operator]
            provider_options={"community": {"timeout_seconds": 20}},
        )
        rid = rig.file("alice", "community tom@example.com locked out")
        rig.sandbox("community").set_latency("action", 6.0)
        rig.approve("bob", rid)
        rig.wait(lambda: rig.request(rid).state is RequestState.DISPATCHING)
        # The rig's clock runs faster than the lease allows without renewal (4 s in 4.8 s);
        # the heartbeat (every second) keeps up, so a sweep never takes the call for dead.
        for _ in range(4):
            rig.clock.advance(seconds=1)
            time.sleep(1.2)
            rig.worker.dispatching.recover()
            assert rig.request(rid).state is RequestState.DISPATCHING
        assert rig.clock() - rig.request(rid).dispatch_started_at >= timedelta(seconds=4)  # type: ignore[operator]
        assert rig.wait_state(rid).state is RequestState.SUCCEEDED
        assert len(rig.sandbox("community").action_calls()) == 1

    def test_a_dispatch_without_heartbeat_is_recovered_after_the_lease(
        self, make_rig: object
    ) -> None:
        """Rows whose owner stopped beating become unknown once the lease has passed."""
        from sqlalchemy import update

        from bot.demo.rig import Rig

        rig: Rig = make_rig(settings_options={"dispatch_lease_seconds": 30})  # type: ignore[operator]
        rid = rig.file("alice", "community tom@example.com locked out")
        with rig.store.session() as s:  # what a process that died mid-call leaves
            s.execute(
                update(ResetRequest)
                .where(ResetRequest.id == rid)
                .values(
                    state=RequestState.DISPATCHING,
                    dispatch_owner="dead-host:1:00000000",
                    dispatch_started_at=rig.clock(),
                    dispatch_heartbeat_at=rig.clock(),
                )
            )
        rig.sweep()
        assert rig.request(rid).state is RequestState.DISPATCHING
        rig.clock.advance(seconds=31)
        rig.sweep()
        req = rig.request(rid)
        assert req.state is RequestState.UNKNOWN
        assert ("system", "request.unknown", "outcome_unknown") in rig.audit(rid)
        assert rig.sandbox("community").action_calls() == []
        assert req.finished_at is not None and req.finished_at - rig.clock() < timedelta(1)

    def test_a_renewal_after_the_sweep_read_the_row_wins(self, make_rig: object) -> None:
        """The sweep's update re-checks the heartbeat it read: an owner back from a pause
        (its renewal landing in between) keeps its call."""
        from datetime import timedelta

        from sqlalchemy import update

        from bot.demo.rig import Rig
        from bot.store.requests import transition

        rig: Rig = make_rig()  # type: ignore[operator]
        rid = rig.file("alice", "community tom@example.com locked out")
        old = rig.clock()
        with rig.store.session() as s:
            s.execute(
                update(ResetRequest)
                .where(ResetRequest.id == rid)
                .values(
                    state=RequestState.DISPATCHING,
                    dispatch_owner="paused:1:00000000",
                    dispatch_started_at=old,
                    dispatch_heartbeat_at=old + timedelta(seconds=5),
                )
            )
        with rig.store.session() as s:
            assert not transition(
                s,
                rid,
                RequestState.DISPATCHING,
                RequestState.UNKNOWN,
                guard=ResetRequest.dispatch_heartbeat_at <= old,
            )
        assert rig.request(rid).state is RequestState.DISPATCHING


class TestApprovedNeverStarted:
    def test_an_approval_whose_call_never_started_is_dispatched_once_by_the_sweeper(
        self, make_rig: object
    ) -> None:
        """A crash between the approval and the call: the provider was certainly not called,
        so the sweeper dispatches it (once, however many sweeps run)."""
        from sqlalchemy import update

        from bot.demo.rig import Rig

        rig: Rig = make_rig()  # type: ignore[operator]
        rid = rig.file("alice", "community tom@example.com locked out")
        with rig.store.session() as s:  # what a process that died after approving leaves
            s.execute(
                update(ResetRequest)
                .where(ResetRequest.id == rid)
                .values(state=RequestState.APPROVED, decided_by="U0BOB", decided_at=rig.clock())
            )
        rig.sweep()
        assert rig.request(rid).state is RequestState.APPROVED  # its own process may be on it
        rig.clock.advance(seconds=31)
        rig.sweep()
        rig.sweep()
        assert rig.wait_state(rid).state is RequestState.SUCCEEDED
        assert len(rig.sandbox("community").action_calls()) == 1


class TestReplicaDiesMidCall:
    def test_the_surviving_replica_reports_it_unknown_without_a_restart(
        self, tmp_path: Path, pg_url: str, world: tuple[SlackStandIn, Sandbox]
    ) -> None:
        """Two `resetbot serve` on one PostgreSQL; the one calling the provider is killed. The
        other, untouched, reports the call `unknown` once the lease runs out; one call only."""
        standin, sandbox = world
        store = prepare_store(pg_url)
        provider = {**sandbox.settings_dict(), "timeout_seconds": 30, "max_retries": 1}
        settings = bot_settings(
            standin,
            pg_url,
            {"community": provider},
            log_level="INFO",
            sweep_interval_seconds=0.25,
            dispatch_lease_seconds=LEASE,
        )
        doomed = Served(tmp_path, settings, name="doomed")
        survivor = Served(tmp_path, settings, name="survivor")
        try:
            doomed.start()
            survivor.start()
            call_in_flight(doomed, standin, sandbox, store)
            time.sleep(LEASE * 1.5)  # a live call keeps its lease: the survivor leaves it alone
            assert only_request(store).state is RequestState.DISPATCHING  # type: ignore[union-attr]
            doomed.kill()
            count("crashes")
            killed_at = time.monotonic()
            done: ResetRequest = wait_for(
                lambda: (r := only_request(store)) and r.state.is_final and r,
                20,
                "the survivor to recover the call",
            )
            took = time.monotonic() - killed_at
            assert done.state is RequestState.UNKNOWN
            wait_for(
                lambda: "Outcome unknown" in approval_message(standin, done).all_text(),
                10,
                "the message update",
            )
            time.sleep(1.0)
            assert len(sandbox.action_calls()) == 1
            assert survivor.proc is not None and survivor.proc.poll() is None
        finally:
            doomed.kill()
            survivor.stop()
            store.dispose()
        assert took < LEASE + 5, took
        assert "Traceback" not in survivor.stderr(), survivor.stderr()
