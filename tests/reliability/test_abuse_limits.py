"""A requester cannot flood the approvers: pending requests per requester and per account are
capped, concurrently too, and the refusal says why."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import event

from bot.demo.rig import SUPPORT, Rig
from bot.domain.errors import LimitReached
from bot.domain.views import Draft
from bot.store.models import RequestState
from providers.base import Account
from tests.reliability.reliability_support import count

TARGETS = [
    f"{p} {t}"
    for p in ("community", "flags", "edge", "gateway")
    for t in ("tom@example.com", "uma@example.com")
    if not (p == "edge" and t[0] == "u")
]


def refusals(rig: Rig, user: str = "U0ALICE") -> list[str]:
    return [
        m.all_text() for m in rig.standin.ephemerals(user=user) if "pending request" in m.all_text()
    ]


def approval_posts(rig: Rig) -> int:
    return len([c for c in rig.standin.calls_to("chat.postMessage", channel=SUPPORT) if c.ok])


class TestLimits:
    def test_the_per_requester_limit_refuses_with_a_reason(
        self, make_rig: Callable[..., Rig]
    ) -> None:
        rig = make_rig(settings_options={"max_pending_per_requester": 3})
        ids = [rig.file("alice", f"{t} locked out") for t in TARGETS[:3]]
        rig.say("alice", f"{TARGETS[3]} locked out")
        rig.settle()
        told = rig.wait(lambda: refusals(rig), what="the refusal")
        count("limit_refusals")
        assert "You already have 3 pending requests (the limit is 3)" in told[-1], told
        assert len(rig.request_ids()) == 3 and approval_posts(rig) == 3
        rig.say("alice", f"cancel {ids[0]}")  # one decided: room for one more
        rig.settle()
        assert rig.request(ids[0]).state is RequestState.CANCELLED
        rig.file("alice", f"{TARGETS[3]} locked out")
        assert len(rig.request_ids()) == 4

    def test_one_pending_request_per_account(self, rig: Rig) -> None:
        rig.file("alice", "community tom@example.com locked out")
        rig.say("carol", "community tom@example.com also locked out")
        rig.settle()
        told = rig.wait(lambda: refusals(rig, "U0CAROL"), what="the refusal")
        count("limit_refusals")
        assert "There is already a pending request for Tom Taylor" in told[-1], told
        assert len(rig.request_ids()) == 1


def flood(rig: Rig, commands: int) -> None:
    """One requester fires ``commands`` filings at once."""
    barrier = threading.Barrier(commands)

    def one(i: int) -> int:
        barrier.wait()
        return int(rig.say("alice", f"{TARGETS[i % len(TARGETS)]} flood {i}").status_code)

    with ThreadPoolExecutor(max_workers=commands) as pool:
        statuses = list(pool.map(one, range(commands)))
    assert set(statuses) == {200}
    rig.settle(30)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_concurrent_flood_files_at_most_the_limit(
    make_rig: Callable[..., Rig], request: pytest.FixtureRequest, backend: str
) -> None:
    """30 filings at once, 7 distinct accounts, limit 4: at most 4 filed, one per account,
    and the approvers see at most 4 messages; everyone else is told why."""
    url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    rig = make_rig(database_url=url, settings_options={"max_pending_per_requester": 4})
    flood(rig, 30)
    filed = [rig.request(r) for r in rig.request_ids()]
    pending = [r for r in filed if r.state is RequestState.PENDING]
    count("limit_refusals", 30 - len(filed))
    assert len(pending) <= 4, [(r.provider, r.target_id) for r in pending]
    accounts = [(r.provider, r.target_id) for r in pending]
    assert len(accounts) == len(set(accounts)), accounts
    assert approval_posts(rig) == len(pending)
    assert len(refusals(rig)) + len(filed) >= 30 - 1


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_the_serialised_filing_is_short(
    make_rig: Callable[..., Rig], request: pytest.FixtureRequest, backend: str
) -> None:
    """Filings queue behind one another (a lock on PostgreSQL, the write lock on SQLite), so
    the section runs no statement it can do without: both limits are counted in one, and the
    new request's approvals, known to be none, are not read back. The limits still hold."""
    url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    rig = make_rig(database_url=url, settings_options={"max_pending_per_requester": 2})
    filing = rig.web.core.filing
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(rig.store.engine, "before_cursor_execute", note)
    try:
        draft = Draft("U0ALICE", "community", "reset", "tom@example.com", "locked out")
        view = filing.file(
            draft, Account("tom", "tom@example.com", "Tom Taylor"), origin_channel=SUPPORT
        )
    finally:
        event.remove(rig.store.engine, "before_cursor_execute", note)
    assert view.approvals == ()
    counts = [s for s in statements if "count(" in s]
    assert len(counts) == 1 and counts[0].count("count(") == 2, statements
    assert not [s for s in statements if "FROM approvals" in s], statements
    assert len([s for s in statements if s.startswith(("SELECT", "INSERT"))]) == 4 + (
        backend == "postgres"
    ), statements  # roles, limits, request, audit (+ the lock)
    with pytest.raises(LimitReached, match="There is already a pending request for Tom"):
        filing.file(
            Draft("U0ALICE", "community", "reset", "tom@example.com", "again"),
            Account("tom", "tom@example.com", "Tom Taylor"),
            origin_channel=SUPPORT,
        )
    filing.file(
        Draft("U0ALICE", "community", "reset", "uma@example.com", "locked out"),
        Account("uma", "uma@example.com", "Uma"),
        origin_channel=SUPPORT,
    )
    with pytest.raises(LimitReached, match="You already have 2 pending requests"):
        filing.file(
            Draft("U0ALICE", "community", "reset", "x@example.com", "locked out"),
            Account("x", "x@example.com", "X"),
            origin_channel=SUPPORT,
        )
