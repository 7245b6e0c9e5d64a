"""What goes wrong: unknown provider or user, SSO accounts, a provider down or rate-limited,
the database unreachable."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.demo.rig import Rig
from bot.demo.standin.driver import ack_body
from bot.store.models import RequestState
from tests.e2e.e2e_support import dm_texts, last_ephemeral, succeeded, thread_texts

MakeRig = Callable[..., Rig]


def nothing_filed(rig: Rig, user: str, text: str) -> str:
    """File by command; the requester is told why and no request or message exists."""
    rig.say(user, text)
    assert rig.request_ids() == set()
    assert rig.standin.calls_to("chat.postMessage") == []
    answer = last_ephemeral(rig, user)
    assert "nothing was filed" in answer.lower(), answer
    return answer


class TestNothingIsFiled:
    def test_unknown_provider_lists_the_configured_ones(self, rig: Rig) -> None:
        answer = nothing_filed(rig, "alice", "crm tom@example.com locked out")
        assert "crm" in answer
        for name in ("community", "flags", "edge", "gateway"):
            assert name in answer
        assert ("U0ALICE", "request.rejected", "unknown_provider") in rig.audit()

    def test_an_unknown_word_alone_is_not_audited(self, rig: Rig) -> None:
        """A mistyped subcommand gets help; only request-shaped text is kept as an attempt."""
        rig.say("alice", "stauts")
        assert "stauts" in last_ephemeral(rig, "alice")
        assert [a for a in rig.audit() if a[1] == "request.rejected"] == []

    def test_unknown_user(self, rig: Rig) -> None:
        answer = nothing_filed(rig, "alice", "community nobody@example.com locked out")
        assert "nobody@example.com" in answer
        assert ("U0ALICE", "request.rejected", "not_found") in rig.audit()

    def test_missing_reason(self, rig: Rig) -> None:
        rig.say("alice", "community tom@example.com")
        assert "reason" in last_ephemeral(rig, "alice")
        assert rig.request_ids() == set()

    @pytest.mark.parametrize(
        ("account", "why"),
        [
            ("sam@example.com", "single sign-on"),
            ("ci-bot@example.com", "service credential"),
        ],
    )
    def test_f5_accounts_a_reset_cannot_help(self, rig: Rig, account: str, why: str) -> None:
        answer = nothing_filed(rig, "alice", f"edge {account} cannot sign in")
        assert why.lower() in answer.lower(), answer
        assert ("U0ALICE", "request.rejected", "not_resettable") in rig.audit()
        assert rig.sandbox("edge").action_calls() == []

    def test_provider_down_at_look_up(self, rig: Rig) -> None:
        rig.sandbox("community").stop()
        answer = nothing_filed(rig, "alice", "community tom@example.com locked out")
        assert "Mighty Networks" in answer
        events = rig.audit()
        assert events[-1][1] == "request.rejected"

    def test_the_form_shows_look_up_failures_on_the_form(self, rig: Rig) -> None:
        view = rig.file_by_form("alice", "edge", "sam@example.com", "cannot sign in")
        rig.settle()
        shown = rig.standin.view(view.id)
        assert shown is not None and "single sign-on" in shown.all_text()
        assert rig.request_ids() == set()


class TestDispatchFailures:
    def test_provider_stopped_after_approval(self, rig: Rig) -> None:
        """Connection refused: the reset certainly did not happen → failed, and everyone sees it."""
        rid = rig.file("alice", "community tom@example.com locked out")
        rig.sandbox("community").stop()
        rig.approve("bob", rid)
        req = rig.wait_state(rid)
        assert req.state is RequestState.FAILED, (req.state, req.outcome_message)
        message = rig.approval_message(rid)
        assert message.buttons() == [] and "Failed" in message.all_text()
        assert any("Failed" in t for t in thread_texts(rig, rid))
        assert any("Failed" in t for t in dm_texts(rig, "alice"))
        assert rig.audit(rid)[-1][1] == "request.failed"

    def test_provider_answers_503(self, rig: Rig) -> None:
        rid = rig.file("alice", "edge tom@example.com locked out")
        rig.sandbox("edge").inject("action", status=503, times=None)
        rig.approve("bob", rid)
        req = rig.wait_state(rid)
        assert req.state in (RequestState.FAILED, RequestState.UNKNOWN)
        assert req.outcome_kind == "unavailable", req.outcome_kind
        assert "F5" in rig.approval_message(rid).all_text()
        assert rig.audit(rid)[-1][1] == f"request.{req.state.value}"

    def test_provider_times_out(self, make_rig: MakeRig) -> None:
        """The call was sent and never answered: outcome unknown, never retried blindly."""
        rig = make_rig(provider_options={"community": {"timeout_seconds": 0.5}})
        rid = rig.file("alice", "community tom@example.com locked out")
        rig.sandbox("community").inject("action", fault="timeout")
        rig.approve("bob", rid)
        req = rig.wait_state(rid)
        assert req.state is RequestState.UNKNOWN, (req.state, req.outcome_message)
        assert len(rig.sandbox("community").action_calls()) == 1
        assert "unknown" in rig.approval_message(rid).all_text().lower()
        assert any("verify" in t.lower() for t in dm_texts(rig, "alice"))
        assert rig.audit(rid)[-1][1] == "request.unknown"

    def test_unleash_rate_limit(self, rig: Rig) -> None:
        """Unleash allows one reset per user per minute: the second says rate-limited."""
        first = rig.file("alice", "flags tom@example.com new laptop")
        rig.approve("bob", first)
        succeeded(rig, first)
        second = rig.file("alice", "flags tom@example.com the link got lost")
        rig.approve("bob", second)
        req = rig.wait_state(second)
        assert req.state is RequestState.FAILED
        assert req.outcome_kind == "rate_limited"
        text = rig.approval_message(second).all_text().lower()
        assert "per minute" in text and "again" in text, text
        assert rig.audit(second)[-1] == ("system", "request.failed", "rate_limited")


class TestSlowProvider:
    def test_slow_look_up_acks_in_time_then_answers(self, rig: Rig) -> None:
        """A look-up slower than the ack budget: "Looking up…" within 3 s, then the outcome
        replaces it (command) or the form's page (modal). The driver flags late acks."""
        rig.sandbox("community").set_latency("lookup", 0.5)
        rig.say("alice", "community tom@example.com locked out")
        rig.wait(lambda: "filed" in last_ephemeral(rig, "alice"), what="the filed answer")
        (answer,) = rig.standin.ephemerals(user="U0ALICE")  # replaced, not added
        assert "Looking up" in answer.history[0].text

        rig.sandbox("community").set_latency("lookup", 2.3)  # past the form's 2 s budget

        form = rig.file_by_form("alice", "community", "uma@example.com", "locked out")
        assert "Looking up" in form.all_text()
        rig.wait(
            lambda: "filed" in rig.standin.view(form.id).all_text(),  # type: ignore[union-attr]
            what="the form's outcome page",
        )
        assert len(rig.request_ids()) == 2
        assert rig.standin.violations == []


class TestDatabaseTrouble:
    def test_database_unreachable_acks_at_once_then_says_so(
        self, make_rig: MakeRig, pg_url: str
    ) -> None:
        """PostgreSQL refuses connections: the ack still comes at once (it reads nothing), and
        the answer that replaces it says what happened and what to do."""
        rig = make_rig(database_url=pg_url)
        rid = rig.file("alice", "community tom@example.com locked out")
        name = make_url(pg_url).database
        admin = create_engine(
            make_url(pg_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
        )
        try:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name"
                    ),
                    {"name": name},
                )
            response = rig.say("alice", "status")
            assert response.status_code == 200
            assert "Looking up" in ack_body(response)["text"]
            answer = last_ephemeral(rig, "alice")
            assert "cannot reach its database" in answer and "try again" in answer
            assert not rig.web.healthy()
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            admin.dispose()
        rig.store.dispose()  # the pool's connections were terminated
        assert rid in answer_of(rig, "alice", "status")


class TestBackgroundWorkerDown:
    def test_healthz_fails_while_the_background_worker_is_not_running(
        self, rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The check behind /healthz; `resetbot serve`'s test kills a real worker, but the web
        process may replace it before any /healthz request lands."""
        assert rig.web.healthy()
        monkeypatch.setattr(rig.web.background, "alive", lambda: False)
        assert not rig.web.healthy()
        assert "the background worker is not running" in caplog.text


def answer_of(rig: Rig, user: str, text: str) -> str:
    rig.say(user, text)
    return last_ephemeral(rig, user)
