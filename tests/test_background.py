"""Background jobs: plain data only, started after the ack, provider calls on their own pool."""

from __future__ import annotations

import pickle
import threading
import time
from typing import Any

import pytest

from bot.background import Job, ThreadBackground, calls_provider
from bot.slack.delivery import after_ack, begin_delivery, end_delivery

ran: list[tuple[str, Any]] = []


def record(rt: Any, what: str) -> None:
    ran.append((threading.current_thread().name, what))


@calls_provider
def call_provider(rt: Any, what: str) -> None:
    ran.append((threading.current_thread().name, what))


@pytest.fixture
def pool() -> Any:
    ran.clear()
    background = ThreadBackground(workers=2, check_pickle=True)
    yield background
    background.close()


class TestJobs:
    def test_a_closure_is_refused_where_the_worker_process_would_refuse_it(
        self, pool: ThreadBackground
    ) -> None:
        """What `resetbot serve` could not send to its worker process fails in the tests."""
        with pytest.raises((pickle.PicklingError, AttributeError)):
            pool.accept(Job(lambda rt: None))

    def test_provider_calls_run_on_their_own_pool(self, pool: ThreadBackground) -> None:
        pool.accept(Job(record, ("quick",)))()
        pool.accept(Job(call_provider, ("slow",)))()
        pool.accept(Job(record_answer, (call_provider, "via answer")))()
        assert pool.wait_idle(5)
        names = dict((what, name) for name, what in ran)
        assert names["quick"].startswith("resetbot-quick")
        assert names["slow"].startswith("resetbot-provider")
        assert names["via answer"].startswith("resetbot-provider")  # the work decides


def record_answer(rt: Any, work: Any, what: str) -> None:
    work(rt, what)


class TestAfterAck:
    def test_work_starts_only_once_the_ack_is_out(self) -> None:
        started: list[str] = []
        delivery = begin_delivery()
        try:
            after_ack(lambda: started.append("job"))
            assert started == []  # the response has not been written yet
        finally:
            end_delivery()
        delivery.release()
        delivery.release()  # idempotent
        assert started == ["job"]
        after_ack(lambda: started.append("outside a request"))  # no delivery: at once
        assert started == ["job", "outside a request"]


class FakeContext:
    background: ThreadBackground

    def submit(self, fn: Any, *args: Any) -> None:
        self.background.accept(Job(fn, args))()


def then_another(rt: FakeContext, what: str) -> None:
    time.sleep(0.2)  # still running when close() is called
    rt.submit(record, what)


def test_close_lets_jobs_started_by_jobs_run() -> None:
    """A decision starts its message update: shutting down must not drop the second job."""
    ran.clear()
    rt = FakeContext()
    rt.background = ThreadBackground(workers=2)
    rt.background.context = rt
    rt.background.accept(Job(then_another, ("follow-up",)))()
    rt.background.close()
    assert [what for _, what in ran] == ["follow-up"]
