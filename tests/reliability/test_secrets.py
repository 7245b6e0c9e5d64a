"""Secrets never leak: recognisable credentials, and the links and passwords the sandboxes hand
out, are looked for in every log line, every Slack call but the requester's DM, the audit log
and a dump of every table and column, in-process (caplog at DEBUG) and under `resetbot serve`."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text

from bot.demo.rig import ACCOUNTS, INSTANCES, SUPPORT, Rig, prepare_store, wait_for
from bot.demo.sandboxes import Sandbox, start_sandbox
from bot.demo.standin import SlackDriver, SlackStandIn
from bot.slack import blocks
from bot.store.db import Store
from bot.store.models import AuditEvent, ResetRequest
from tests.reliability.reliability_support import (
    Served,
    approval_message,
    bot_settings,
    count,
    slack_world,
)

BOT_TOKEN = "xoxb-SENTINEL-BOT-TOKEN-51f3"  # noqa: S105 - sentinels, looked for, never used
SIGNING_SECRET = "SENTINEL-SIGNING-SECRET-8d2c"  # noqa: S105
PROVIDER_SENTINELS = {
    "community": {"token": "SENTINEL-MN-TOKEN-0a9e"},
    "flags": {"admin_token": "*:*.SENTINEL-UNLEASH-TOKEN-77b1"},
    "edge": {"token": "SENTINEL-F5-TOKEN-3c4d"},
    "gateway": {
        "admin_secret": "SENTINEL-TYK-ADMIN-9e8f",
        "dashboard_key": "SENTINEL-TYK-DASHBOARD-1b2a",
    },
}


def use_sentinels(name: str, sandbox: Sandbox) -> None:
    """Make the sandbox accept (only) the recognisable credentials."""
    for attr, value in PROVIDER_SENTINELS[name].items():
        if attr == "dashboard_key":  # the key of the Dashboard user who may reset passwords
            owner = next(
                u
                for u in sandbox.users.values()  # type: ignore[attr-defined]
                if u["access_key"] == sandbox.dashboard_key  # type: ignore[attr-defined]
            )
            owner["access_key"] = value
        setattr(sandbox, attr, value)


def sentinels() -> list[str]:
    return [
        BOT_TOKEN,
        SIGNING_SECRET,
        *(v for options in PROVIDER_SENTINELS.values() for v in options.values()),
    ]


def all_secrets(sandboxes: Iterable[Sandbox]) -> list[str]:
    found = set(sentinels())
    for sandbox in sandboxes:
        found.update(s for s in sandbox.secrets() if s and len(s) >= 8)
    return sorted(found)


# The scenario: every provider's reset, a credential check, an error that echoes a token


def run_scenario(
    driver: SlackDriver, standin: SlackStandIn, store: Store, sandboxes: dict[str, Sandbox]
) -> None:
    # A provider that echoes the credential back in an error body, at look-up.
    echo = PROVIDER_SENTINELS["community"]["token"]
    sandboxes["community"].inject(
        "lookup", status=400, body={"error": f"bad token {echo}", "message": f"got {echo}"}
    )
    driver.command("U0ALICE", "community tom@example.com locked out", channel_id=SUPPORT)
    wait_for(
        lambda: any(
            "Nothing was filed" in m.all_text() for m in standin.ephemerals(user="U0ALICE")
        ),
        15,
        "the refusal",
    )
    for name in INSTANCES:
        for target in ("tom@example.com", "uma@example.com")[: 2 if name == "flags" else 1]:
            decide(driver, standin, store, f"{name} {target} locked out after a trip")
    driver.command("U0ADA", "providers", channel_id=SUPPORT)
    wait_for(
        lambda: any(
            "credentials" in c.params.get("text", "").lower()
            or "ok" in c.params.get("text", "").lower()
            for c in standin.calls_to("response_url")
        ),
        15,
        "the providers check",
    )


def decide(driver: SlackDriver, standin: SlackStandIn, store: Store, text: str) -> None:
    with store.session() as s:
        before = set(s.scalars(select(ResetRequest.id)))
    driver.command("U0ALICE", text, channel_id=SUPPORT)

    def filed() -> ResetRequest | None:
        with store.session() as s:
            rows = [r for r in s.scalars(select(ResetRequest)) if r.id not in before]
            for r in rows:
                s.expunge(r)
        return rows[0] if rows and rows[0].approval_ts else None

    req = wait_for(filed, 15, f"the request {text!r}")
    mark = len(standin.views_for("U0BOB"))
    driver.click("U0BOB", approval_message(standin, req), blocks.APPROVE_ACTION)
    wait_for(lambda: len(standin.views_for("U0BOB")) > mark, 10, "the approval modal")
    driver.submit_view("U0BOB", standin.views_for("U0BOB")[-1], {})

    def final() -> bool:
        with store.session() as s:
            row = s.get(ResetRequest, req.id)
            return bool(row and row.state.is_final)

    wait_for(final, 15, f"{req.id} to finish")
    wait_for(
        lambda: any(req.id in m.all_text() for m in standin.dms("U0ALICE")),
        10,
        "the requester to be told",
    )


# Where secrets could end up


def slack_places(standin: SlackStandIn) -> Iterator[tuple[str, str]]:
    """Every Slack call (and its answer) except posts into the requester's DM."""
    dm = standin.dm_channel("U0ALICE")
    for i, call in enumerate(standin.calls):
        if call.method == "chat.postMessage" and call.params.get("channel") == dm:
            continue
        yield (
            f"slack call {i} {call.method}",
            json.dumps([call.params, call.response], default=str),
        )


def database_places(store: Store) -> Iterator[tuple[str, str]]:
    """Every column of every row of every table, as stored."""
    with store.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for n, row in enumerate(conn.execute(text(f'SELECT * FROM "{table}"'))):  # noqa: S608
                yield f"table {table} row {n}", json.dumps(list(row), default=str)


def file_places(workdir: Path) -> Iterator[tuple[str, str]]:
    """The database files themselves (SQLite keeps freed pages and a WAL)."""
    for path in sorted(workdir.glob("*.db*")):
        yield f"file {path.name}", path.read_bytes().decode("latin-1")


def leaks(secrets: list[str], places: Iterable[tuple[str, str]]) -> list[str]:
    found = []
    scanned = 0
    for where, content in places:
        scanned += 1
        found += [f"{secret[:12]}… in {where}" for secret in secrets if secret in content]
    count("secret_places_scanned", scanned)
    return found


def audit_rows(store: Store) -> int:
    with store.session() as s:
        return len(list(s.scalars(select(AuditEvent))))


class TestNoSecretLeaks:
    def test_in_process_with_debug_logging(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """caplog at DEBUG on every logger: no secret in a log line, a Slack call outside the
        requester's DM, the audit log, any table or the database files."""
        caplog.set_level(logging.DEBUG)
        with Rig(
            tmp_path,
            bot_token=BOT_TOKEN,
            signing_secret=SIGNING_SECRET,
            prepare_sandbox=use_sentinels,
        ) as rig:
            run_scenario(rig.driver, rig.standin, rig.store, rig.sandboxes)
            rig.settle()
            secrets = all_secrets(rig.sandboxes.values())
            # The scenario really produced secrets: a link and a password reached the DM.
            issued = [s for s in secrets if s not in sentinels()]
            dm = " ".join(m.all_text() for m in rig.standin.dms("U0ALICE"))
            assert any(s in dm for s in issued), "no secret was handed out"
            assert audit_rows(rig.store) > 10
            logs = [
                (f"log {r.name}", r.getMessage() + (r.exc_text or "") + str(r.args))
                for r in caplog.records
            ]
            found = leaks(
                secrets,
                [
                    *logs,
                    ("log text", caplog.text),
                    *slack_places(rig.standin),
                    *database_places(rig.store),
                ],
            )
            rig.store.dispose()
            found += leaks(secrets, file_places(tmp_path))
        count("secrets_tracked", len(secrets))
        count("secrets_found", len(found))
        assert found == [], found

    @pytest.mark.parametrize("log_format", ["text", "json"])
    def test_under_resetbot_serve_at_debug(self, tmp_path: Path, log_format: str) -> None:
        """The same under `resetbot serve` with log_level DEBUG, text or JSON lines: its whole
        stderr is scanned (JSON lines also decoded, so an escaped secret is found too)."""
        standin = slack_world()
        standin.bot_token = BOT_TOKEN
        sandboxes: dict[str, Sandbox] = {}
        try:
            providers: dict[str, Any] = {}
            for name, kind in INSTANCES.items():
                sandbox = sandboxes[name] = start_sandbox(kind)
                for account in ACCOUNTS[kind]:
                    sandbox.add_user(**account)
                use_sentinels(name, sandbox)
                providers[name] = {**sandbox.settings_dict(), "max_retries": 1}
            url = f"sqlite:///{tmp_path / 'resetbot.db'}"
            store = prepare_store(url)
            settings = bot_settings(standin, url, providers)
            settings["slack"]["signing_secret"] = SIGNING_SECRET
            settings["log_format"] = log_format
            served = Served(tmp_path, settings, name="serve").start()
            try:
                driver = SlackDriver(standin, served.events_url, SIGNING_SECRET)
                run_scenario(driver, standin, store, sandboxes)
            finally:
                served.stop()
            secrets = all_secrets(sandboxes.values())
            stderr = served.stderr()
            assert "DEBUG" in stderr, "the server did not log at DEBUG"
            decoded = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
            if log_format == "json":
                assert any(entry["level"] == "DEBUG" for entry in decoded), "no JSON DEBUG line"
            found = leaks(
                secrets,
                [
                    ("serve stderr", stderr),
                    *[("serve JSON line", json.dumps(e, ensure_ascii=False)) for e in decoded],
                    *slack_places(standin),
                    *database_places(store),
                ],
            )
            store.dispose()
            found += leaks(secrets, file_places(tmp_path))
        finally:
            for sandbox in sandboxes.values():
                sandbox.stop()
            standin.stop()
        count("secrets_tracked", len(secrets))
        count("secrets_found", len(found))
        assert found == [], found


def test_the_scan_has_teeth() -> None:
    """A secret anywhere in a place is reported with where it was."""
    assert leaks(["SENTINEL-X-123"], [("a", "ok"), ("b", 'json "SENTINEL-X-123"')]) == [
        "SENTINEL-X-1… in b"
    ]
