"""Hostile clients, broken disks and an unreachable Slack: each of issue 18's findings."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import event

from bot.demo.rig import SUPPORT, Rig
from bot.demo.standin import SlackStandIn
from bot.demo.standin.workspace import APP_ID, TEAM_ID
from bot.store.models import RequestState
from providers.base import OutcomeUnknown, Unavailable
from providers.http import Call, HttpClient, RetryPolicy
from tests.e2e.e2e_support import ephemeral_texts, last_ephemeral
from tests.reliability.reliability_support import Served, slack_world

MakeRig = Callable[..., Rig]


def command_body(rig: Rig, user: str, text: str) -> str:
    """A slash command's form body as Slack sends it, with a fresh trigger_id."""
    response_url = rig.standin.new_response_url(SUPPORT, rig.user_id(user), awaits_ack=True)
    return urlencode(
        {
            "team_id": TEAM_ID,
            "channel_id": SUPPORT,
            "user_id": rig.user_id(user),
            "user_name": user,
            "command": "/reset-password",
            "text": text,
            "api_app_id": APP_ID,
            "response_url": response_url,
            "trigger_id": f"trig-{time.monotonic_ns()}",
        }
    )


class TestBeforeTheSignature:
    """Findings 2 and 3: nothing of an unsigned request is parsed or logged."""

    def test_unsigned_bodies_are_refused_in_one_bounded_line(
        self, rig: Rig, caplog: pytest.LogCaptureFixture
    ) -> None:
        forged = "x\n2099-01-01 CRITICAL bot forged line\n" + "A" * (1024 * 1024 - 100)
        caplog.set_level(logging.DEBUG)
        for _ in range(3):
            response = httpx.post(rig.events_url, content=forged.encode(), timeout=10)
            assert response.status_code == 401
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "forged line" not in logged and "AAAA" not in logged
        refused = [r for r in caplog.records if "refused a request" in r.getMessage()]
        assert len(refused) == 3
        assert all(len(r.getMessage()) < 300 for r in refused)

    @pytest.mark.parametrize(
        "headers",
        [
            {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=abc"},
            [
                ("X-Slack-Request-Timestamp", str(int(time.time()))),
                ("X-Slack-Request-Timestamp", str(int(time.time()))),
                ("X-Slack-Signature", "v0=abc"),
            ],
            {"X-Slack-Request-Timestamp": "1" * 40, "X-Slack-Signature": "v0=abc"},
            {
                "X-Slack-Request-Timestamp": str(int(time.time())),
                "X-Slack-Signature": "v0=" + "f" * 500,
            },
        ],
    )
    def test_malformed_headers_are_401_not_500(
        self, rig: Rig, headers: dict[str, str] | list[tuple[str, str]]
    ) -> None:
        response = httpx.post(rig.events_url, content=b"command=/x", headers=headers)
        assert response.status_code in (400, 401)

    def test_deep_json_unsigned_is_refused_unparsed(self, rig: Rig) -> None:
        body = b"[" * 100_000 + b"]" * 100_000
        response = httpx.post(
            rig.events_url, content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 401

    def test_control_characters_in_logs_are_escaped(self) -> None:
        from bot.server import TextFormatter

        record = logging.LogRecord("x", logging.WARNING, "f", 1, "got %s", ("a\nCRITICAL b",), None)
        line = TextFormatter().format(record)
        assert "\n" not in line and "a\\x0aCRITICAL b" in line


class TestReplays:
    """Finding 10: a signed delivery replayed within Slack's five minutes acts once."""

    def test_a_replayed_command_files_once(self, rig: Rig) -> None:
        body = command_body(rig, "alice", "community tom@example.com locked out")
        headers = rig.driver.signed_headers(body)
        first = httpx.post(rig.events_url, content=body.encode(), headers=headers)
        rig.settle()
        told, audited = ephemeral_texts(rig, "alice"), rig.audit()
        again = httpx.post(rig.events_url, content=body.encode(), headers=headers)
        rig.settle()
        assert first.status_code == 200 and again.status_code == 200
        assert "Looking up" in first.text and "Looking up" not in again.text
        assert len(rig.request_ids()) == 1
        # Acted on once: the replay is neither answered ("already pending") nor audited.
        assert ephemeral_texts(rig, "alice") == told
        assert rig.audit() == audited

    @pytest.mark.postgres
    def test_a_replay_reaching_another_replica_acts_once(
        self, make_rig: MakeRig, pg_url: str
    ) -> None:
        """Another replica's memory has not seen the delivery: the store's record, checked
        once the ack is out, keeps its work from starting."""
        from bot.store import deliveries

        rig = make_rig(database_url=pg_url)
        body = command_body(rig, "alice", "community tom@example.com locked out")
        headers = rig.driver.signed_headers(body)
        assert httpx.post(rig.events_url, content=body.encode(), headers=headers).is_success
        rig.settle()
        told, audited = ephemeral_texts(rig, "alice"), rig.audit()
        deliveries.forget()  # as in another replica's process
        again = httpx.post(rig.events_url, content=body.encode(), headers=headers)
        rig.settle()
        assert again.status_code == 200
        assert len(rig.request_ids()) == 1
        assert ephemeral_texts(rig, "alice") == told  # not even "already pending"
        assert rig.audit() == audited

    @pytest.mark.postgres
    def test_the_same_trigger_is_seen_by_every_replica(self, pg_url: str) -> None:
        """Two replicas on one PostgreSQL: the second process (its memory empty) refuses."""
        from datetime import UTC, datetime

        from bot.store import deliveries
        from bot.store.db import Store
        from bot.store.migrate import upgrade

        upgrade(pg_url)
        one, two = Store(pg_url), Store(pg_url)
        try:
            now = datetime.now(UTC)
            deliveries.forget()
            assert deliveries.first_here(["t:abc"])
            assert deliveries.record_many(one, [["t:abc"]], now) == [True]
            assert not deliveries.first_here(["t:abc"])  # a replay to the same process
            # Another replica's memory has not seen it; the store has.
            assert deliveries.record_many(two, [["t:abc"]], now) == [False]
            assert deliveries.record_many(two, [["t:other"]], now) == [True]
            # Several deliveries in one round trip, each answered on its own.
            assert deliveries.record_many(one, [["t:x"], ["t:abc"], ["t:y"]], now) == [
                True,
                False,
                True,
            ]
            answers: list[bool] = []
            done = threading.Event()
            check = deliveries.SharedCheck(two, lambda: now)

            def last(first: bool) -> None:
                answers.append(first)
                done.set()

            check.check(["t:x"], answers.append)
            check.check(["t:z"], last)
            assert done.wait(10)
            assert answers == [False, True]
        finally:
            one.dispose()
            two.dispose()


class TestStore:
    """Findings 4 and 5: a store that went away or filled up stops everything, visibly."""

    def test_deleted_store_answers_503_and_acts_on_nothing(self, rig: Rig) -> None:
        db = Path(rig.settings.database_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        health = httpx.get(rig.server.url + "/healthz")
        assert health.status_code == 503
        assert str(db) in health.json()["error"]
        response = rig.say("alice", "community tom@example.com locked out")
        assert "store is unavailable; nothing was done" in response.json()["text"]
        assert rig.sandbox("community").calls == []
        assert not db.exists()  # nothing brought it back empty

    def test_replaced_or_read_only_store_is_named(self, rig: Rig) -> None:
        db = Path(rig.settings.database_url.removeprefix("sqlite:///"))
        db.chmod(0o444)
        try:
            if os.access(db, os.W_OK):  # root ignores permissions: replace the file instead
                db.rename(db.with_suffix(".old"))
                db.write_bytes(db.with_suffix(".old").read_bytes())
                want = "replaced"
            else:
                want = "read-only"
            health = httpx.get(rig.server.url + "/healthz")
            assert health.status_code == 503 and want in health.json()["error"]
        finally:
            db.chmod(0o644)

    def test_full_store_drops_nothing_silently(self, rig: Rig) -> None:
        """An approval on a full disk: the approver is told, the provider never called."""
        rid = rig.file("alice", "community tom@example.com locked out")
        engine = rig.store.engine
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE filler (t TEXT)")

        @event.listens_for(engine, "connect")
        def _limit(dbapi_conn: Any, _record: Any) -> None:
            pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
            dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

        engine.dispose()  # every connection from now on has the size limit
        for size in (2000, 200, 20):  # every free page, then what is left in each
            with pytest.raises(Exception, match="full"):
                for _ in range(10_000):
                    with engine.begin() as conn:
                        conn.exec_driver_sql("INSERT INTO filler VALUES (?)", ("x" * size,))
        with pytest.raises(Exception, match="full"):
            for n in range(100_000):
                with engine.begin() as conn:
                    conn.exec_driver_sql(
                        "INSERT INTO deliveries_seen VALUES (?, '2000-01-01')", (f"{n:080d}",)
                    )
        # The free room left in the pages of the tables an approval writes, filled too (rows
        # of an inert request), so that the approval cannot find room anywhere.
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO reset_requests (id, requester_id, provider, action, target_input,"
                " target_id, reason, state, approvals_required, created_at, expires_at,"
                " updated_at, message_stale, confirmation, privileged) VALUES ('RFILLER',"
                " 'U0X', 'community', 'reset', 'x', 'x', 'x', 'cancelled', 1, '2000-01-01',"
                " '2000-01-01', '2000-01-01', 0, 'not_needed', 0)"
            )
        for size in (2000, 200, 20, 1):
            with pytest.raises(Exception, match="full"):
                for n in range(100_000):
                    with engine.begin() as conn:
                        conn.exec_driver_sql(
                            "INSERT INTO approvals (request_id, approver_id, note, created_at)"
                            " VALUES ('RFILLER', ?, ?, '2000-01-01')",
                            (f"U{size}x{n}", "x" * size),
                        )
            with pytest.raises(Exception, match="full"):
                for _ in range(100_000):
                    with engine.begin() as conn:
                        conn.exec_driver_sql(
                            "INSERT INTO audit_events (at, actor, action, details)"
                            " VALUES ('2000-01-01', 'x', ?, '{}')",
                            ("x" * min(size, 60),),
                        )
        rig.approve("bob", rid)  # the click reads (SQLite still reads); the approval writes
        rig.settle()

        def told() -> bool:
            texts = [m.all_text() for m in rig.standin.ephemerals(user="U0BOB")]
            texts += [m.all_text() for m in rig.standin.dms("U0BOB")]
            return any("store is unavailable; nothing was done" in t for t in texts)

        rig.standin.wait_until(told, 5, what="the approver told")
        assert rig.sandbox("community").action_calls() == []
        with engine.connect() as conn:  # the store refuses while full; SQLite still reads
            state = conn.exec_driver_sql(
                "SELECT state FROM reset_requests WHERE id = ?", (rid,)
            ).scalar()
        assert state == RequestState.PENDING.value
        health = httpx.get(rig.server.url + "/healthz")
        assert health.status_code == 503 and "cannot be written" in health.json()["error"]


class TestSlackRateLimits:
    """Finding 7: a Retry-After of an hour does not leave an account blocked."""

    def test_retry_after_an_hour_ends_not_posted_at_once(self, rig: Rig) -> None:
        rig.standin.fail_next("chat.postMessage", "ratelimited", retry_after=3600)
        started = time.monotonic()
        rig.say("alice", "community tom@example.com locked out")
        rig.settle(timeout=20)
        assert time.monotonic() - started < 15
        (rid,) = rig.request_ids()
        assert rig.request(rid).state is RequestState.CANCELLED
        assert rig.request(rid).outcome_kind == "not_posted"
        assert "Nothing was filed" in last_ephemeral(rig, "alice")
        again = rig.file("alice", "community tom@example.com locked out")  # not blocked
        assert rig.request(again).state is RequestState.PENDING


class _Trickle(threading.Thread):
    """A loopback HTTP server that answers one byte a second."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()

    def run(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"{" * 100:
                if self.stop.wait(0.3):
                    return
                try:
                    conn.send(bytes([byte]))
                except OSError:
                    return


@pytest.fixture
def trickle() -> Iterator[_Trickle]:
    server = _Trickle()
    server.start()
    yield server
    server.stop.set()
    server.sock.close()


class TestProviderDeadline:
    """Finding 6: one deadline per provider call, however slowly the provider answers."""

    @pytest.mark.parametrize("op", ["read", "action"])
    def test_a_trickling_provider_is_cut_off(self, trickle: _Trickle, op: str) -> None:
        client = HttpClient(
            title="Trickle",
            instance="t",
            base_url=trickle.url,
            auth={},
            timeout=5,
            retry=RetryPolicy(max_retries=2),
            deadline=1.5,
        )
        started = time.monotonic()
        with pytest.raises(OutcomeUnknown if op == "action" else Unavailable) as caught:
            client.send(Call("GET", "/x", op, "look up the member", credential=None))  # type: ignore[arg-type]
        client.close()
        assert time.monotonic() - started < 3
        assert "within 2 seconds" in str(caught.value)

    def test_a_look_up_at_a_trickling_provider_is_answered_in_time(
        self, trickle: _Trickle, make_rig: MakeRig
    ) -> None:
        """End to end: the requester hears that the provider could not be reached once the
        deadline has passed, not after the minute the trickle would take."""
        rig = make_rig(
            provider_options={"community": {"base_url": trickle.url}},
            settings_options={"provider_call_deadline_seconds": 2},
        )
        started = time.monotonic()
        assert rig.say("alice", "community tom@example.com locked out").status_code == 200
        rig.wait(
            lambda: any("Nothing was filed" in t for t in ephemeral_texts(rig, "alice")),
            timeout=8,
            what="the answer to a look-up past its deadline",
        )
        assert time.monotonic() - started < 8
        assert "within 2 seconds" in last_ephemeral(rig, "alice")
        assert rig.request_ids() == set()


class TestSlowClients:
    """Finding 1: 500 connections trickling requests starve neither Slack nor /healthz."""

    def test_500_trickling_connections(self, tmp_path: Path) -> None:
        standin = slack_world()
        try:
            self._run(tmp_path, standin)
        finally:
            standin.stop()

    def _run(self, tmp_path: Path, standin: SlackStandIn) -> None:
        from tests.reliability.reliability_support import bot_settings

        served = Served(
            tmp_path,
            bot_settings(standin, f"sqlite:///{tmp_path / 'bot.db'}", {}, background="thread"),
            env={"RESETBOT_READ_DEADLINE": "3"},
        )
        served.start()
        slow: list[socket.socket] = []
        try:
            for i in range(500):
                s = socket.create_connection(("127.0.0.1", served.port))
                head = b"POST /slack/events HTTP/1.1\r\nHost: x\r\n"
                s.sendall(head + (b"Content-Length: 100\r\n\r\nab" if i % 2 else b"X-A: b"))
                slow.append(s)
            started = time.monotonic()
            assert httpx.get(served.url + "/healthz", timeout=5).status_code == 200
            assert time.monotonic() - started < 1
            with served.driver(standin) as driver:
                started = time.monotonic()
                response = driver.command("U0ALICE", "help")
                assert response.status_code == 200
                assert time.monotonic() - started < 1
            time.sleep(4.5)  # past the read deadline: every slow connection was closed
            slow[0].settimeout(1)
            closed = 0
            for s in slow:
                s.settimeout(0.5)
                try:
                    got = s.recv(100)
                except OSError:
                    got = b"HTTP/1.1 408"
                closed += got == b"" or got.startswith(b"HTTP/1.1 408")
            assert closed == len(slow)
        finally:
            for s in slow:
                s.close()
            served.stop()
        assert "Traceback" not in served.stderr()


class TestTextIntoBlockKit:
    """Findings 8 and 9: names at and past the limits, and invisible or bidi characters."""

    def test_a_3500_character_name_is_fitted_everywhere(self, rig: Rig) -> None:
        long_name = "Tom " + "Averyveryverylongname" * 166  # 3,500 characters
        rig.sandbox("community").add_user(email="long@example.com", name=long_name)
        reason = "new laptop \u202egnp.exe\u202c zero\u200bwidth"
        rid = rig.file("alice", f"community long@example.com {reason}")
        message = rig.approval_message(rid)
        text = message.all_text()
        assert "…" in text and "Averyveryverylongname" in text
        for hidden in ("\u202e", "\u202c", "\u200b"):
            assert hidden not in json.dumps(message.blocks, ensure_ascii=False)
        assert "gnp.exe" in text
        rig.approve("bob", rid)
        assert rig.wait_state(rid).state is RequestState.SUCCEEDED
        assert "…" in rig.approval_message(rid).all_text()

    def test_fit_and_clean(self) -> None:
        from bot.slack.fit import clean, fit, visible

        assert fit("a" * 10, 5) == "aaaa…" and fit("short", 5) == "short"
        assert fit("abc &amp; def", 8) == "abc …"  # never half an escape
        assert fit("see <@U123456|ann>", 12) == "see …"
        assert clean("a\u202eb\u2066c\u200dd\x07e\nf") == "abcde\nf"
        assert visible("a\nb\u202e") == "a\\x0ab\\u202e"
