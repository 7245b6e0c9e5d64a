"""Compare-and-set transitions: however many deciders race for a pending request, one wins."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.store.db import Store
from bot.store.migrate import upgrade
from bot.store.models import AuditEvent, RequestState, ResetRequest, utcnow
from bot.store.requests import record, transition

THREADS = 20
PROCESSES = 4


def new_request(store: Store, request_id: str = "R1") -> str:
    with store.session() as s:
        s.add(
            ResetRequest(
                id=request_id,
                requester_id="U0REQ",
                provider="flags",
                action="reset",
                target_input="tom@example.com",
                target_id="42",
                target_email="tom@example.com",
                reason="locked out",
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
    return request_id


def decide(store: Store, request_id: str, actor: str, new: RequestState) -> bool:
    with store.session() as s:
        won = transition(s, request_id, RequestState.PENDING, new, decided_by=actor)
        if won:
            request = s.get(ResetRequest, request_id)
            record(s, actor=actor, action=f"request.{new.value}", request=request)
        return won


def state_and_events(store: Store, request_id: str) -> tuple[RequestState, str | None, int]:
    with store.session() as s:
        request = s.get(ResetRequest, request_id)
        assert request is not None
        count = s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.request_id == request_id)
        )
        return request.state, request.decided_by, int(count or 0)


class TestSequential:
    def test_second_transition_from_pending_loses(self, store: Store) -> None:
        """Once approved, a request cannot be denied, nor approved again."""
        rid = new_request(store)
        assert decide(store, rid, "U0A", RequestState.APPROVED)
        assert not decide(store, rid, "U0B", RequestState.DENIED)
        assert not decide(store, rid, "U0C", RequestState.APPROVED)
        assert state_and_events(store, rid) == (RequestState.APPROVED, "U0A", 1)

    def test_unknown_request_is_not_moved(self, store: Store) -> None:
        with store.session() as s:
            assert not transition(s, "NOPE", RequestState.PENDING, RequestState.APPROVED)

    def test_any_of_several_expected_states(self, store: Store) -> None:
        rid = new_request(store)
        with store.session() as s:
            assert transition(
                s, rid, [RequestState.PENDING, RequestState.APPROVED], RequestState.CANCELLED
            )


class TestConcurrent:
    def test_threads_racing_for_one_request(self, store: Store) -> None:
        """Twenty deciders (approve and deny mixed) click at once: exactly one wins."""
        rid = new_request(store)
        barrier = threading.Barrier(THREADS)
        results: dict[str, bool] = {}
        errors: list[BaseException] = []

        def click(i: int) -> None:
            actor = f"U0T{i:02d}"
            new = RequestState.APPROVED if i % 2 else RequestState.DENIED
            try:
                barrier.wait(timeout=30)
                results[actor] = decide(store, rid, actor, new)
            except BaseException as exc:  # reported below, not swallowed
                errors.append(exc)

        threads = [threading.Thread(target=click, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors
        winners = [actor for actor, won in results.items() if won]
        assert len(results) == THREADS and len(winners) == 1
        state, decided_by, events = state_and_events(store, rid)
        assert decided_by == winners[0]
        expected = RequestState.APPROVED if int(winners[0][3:]) % 2 else RequestState.DENIED
        assert (state, events) == (expected, 1)


RACER = """
import sys
from bot.store.db import Store
from bot.store.models import RequestState
from bot.store.requests import record, transition

url, request_id, actor = sys.argv[1:4]
store = Store(url)
with store.engine.connect():
    pass  # connected before the start signal, so that the race is about the UPDATE
print("ready", flush=True)
sys.stdin.readline()
with store.session() as s:
    won = transition(s, request_id, RequestState.PENDING, RequestState.APPROVED, decided_by=actor)
    if won:
        record(s, actor=actor, action="request.approved", provider="flags")
print("won" if won else "lost", flush=True)
store.dispose()
"""


@pytest.mark.postgres
def test_processes_racing_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """Separate processes (think replicas) approve the same request at once: exactly one wins."""
    upgrade(pg_url)
    store = Store(pg_url)
    try:
        rid = new_request(store)
        script = tmp_path / "racer.py"
        script.write_text(RACER)
        procs = [
            subprocess.Popen(  # noqa: S603 (our own interpreter and script)
                [sys.executable, str(script), pg_url, rid, f"U0P{i}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=Path(__file__).resolve().parents[2],
            )
            for i in range(PROCESSES)
        ]
        readers: list[Callable[[], str]] = []
        for p in procs:
            assert p.stdout is not None and p.stdin is not None
            assert p.stdout.readline().strip() == "ready"
            readers.append(p.stdout.readline)
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outcomes = [read().strip() for read in readers]
        for p in procs:
            assert p.wait(timeout=60) == 0
        assert sorted(outcomes) == ["lost"] * (PROCESSES - 1) + ["won"]
        winner = f"U0P{outcomes.index('won')}"
        assert state_and_events(store, rid)[:2] == (RequestState.APPROVED, winner)
    finally:
        store.dispose()
