"""The ``resetbot`` command: what an operator sees on stdout and stderr, and the exit status."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.store import migrate
from bot.store.audit import read_export

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-SENTINEL-bot",
    "SLACK_SIGNING_SECRET": "SENTINEL-signing",
    "SLACK_APP_TOKEN": "",
}
CONFIG = """
database_url = "{url}"
admins = ["U0ADMIN"]

[providers.flags]
kind = "unleash"
base_url = "https://unleash.example.com"
token = "SENTINEL-flags-token"

[providers.gateway]
kind = "tyk"
base_url = "https://tyk.example.com"
admin_secret = "SENTINEL-tyk-secret"
dashboard_key = "SENTINEL-tyk-key"
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith(("RESETBOT_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "resetbot.toml"
    path.write_text(CONFIG.format(url=f"sqlite:///{tmp_path / 'bot.db'}"), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


class TestConfigCheck:
    def test_good_config_printed_with_secrets_masked(
        self, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A good config is printed in full, and no secret value appears anywhere."""
        for name, value in SECRETS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("RESETBOT_DATABASE_URL", "postgresql+psycopg://rb:SENTINEL-pw@db/rb")
        status, out, err = run(capsys, "config", "check", "--config", str(config))
        assert status == 0
        assert '"kind": "tyk"' in out and '"admin_secret": "********"' in out
        assert "rb:********@db/rb" in out
        assert "config OK" in err
        assert "SENTINEL" not in out + err

    def test_broken_config_one_line_per_problem(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A broken config: each problem on its own line, exit status 2, no secret, no trace."""
        bad = tmp_path / "bad.toml"
        bad.write_text(
            '[providers.edge]\nkind = "f5"\ntoken = "SENTINEL-1"\n'
            '[providers.flags]\nkind = "unleash"\nbase_url = "nope"\n',
            encoding="utf-8",
        )
        status, out, err = run(capsys, "--config", str(bad), "config", "check")
        assert status == 2
        assert out == ""
        assert err.splitlines() == [
            "providers.edge.kind: unknown kind 'f5'; expected one of "
            "mighty_networks, unleash, f5xc, tyk",
            "providers.flags.base_url: not a valid URL",
            "providers.flags.token: field required",
        ]
        assert "SENTINEL" not in err

    def test_missing_config_file(self, capsys: pytest.CaptureFixture[str]) -> None:
        status, _, err = run(capsys, "config", "check", "--config", "absent.toml")
        assert (status, err) == (2, "absent.toml: config file not found\n")

    def test_serve_notes(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """config check mentions what serve would still miss, without failing."""
        status, _, err = run(capsys, "config", "check", "--config", str(config))
        assert status == 0
        assert "note: `resetbot serve` would refuse to start: slack.bot_token" in err


class TestDb:
    def test_upgrade_and_current(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        head = migrate.head()
        assert run(capsys, "db", "current", "--config", str(config))[1].startswith("none")
        status, out, _ = run(capsys, "db", "upgrade", "--config", str(config))
        assert status == 0 and f"upgraded from an empty database to {head}" in out
        status, out, _ = run(capsys, "db", "upgrade", "--config", str(config))
        assert status == 0 and "already at the newest revision" in out
        assert run(capsys, "db", "current", "--config", str(config))[1] == f"{head} (newest)\n"

    def test_unreachable_database_is_one_line(
        self, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(
            "RESETBOT_DATABASE_URL",
            "postgresql+psycopg://rb:SENTINEL-pw@127.0.0.1:1/rb?connect_timeout=2",
        )
        status, out, err = run(capsys, "db", "current", "--config", str(config))
        assert status == 1 and out == ""
        assert err.startswith("resetbot: database error: ") and err.count("\n") == 1
        assert "SENTINEL" not in err


class TestRoles:
    def test_grant_list_revoke(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An operator grants, lists and revokes roles; each change is in the audit log."""
        c = ("--config", str(config))
        status, out, _ = run(
            capsys, "roles", "grant", "U0ALICE", "approver", "--provider", "flags", *c
        )
        assert (status, out) == (0, "granted approver to U0ALICE for provider flags\n")
        status, out, _ = run(
            capsys, "roles", "grant", "U0ALICE", "approver", "--provider", "flags", *c
        )
        assert (status, out) == (0, "U0ALICE already holds approver for provider flags\n")
        run(capsys, "roles", "grant", "U0BOB", "requester", *c)

        status, out, _ = run(capsys, "roles", "list", *c)
        rows = [line.split()[:4] for line in out.splitlines()]
        assert rows == [
            ["user", "role", "provider", "granted_by"],
            ["U0ADMIN", "admin", "*", "config"],
            ["U0ALICE", "approver", "flags", rows[2][3]],
            ["U0BOB", "requester", "*", rows[3][3]],
        ]
        assert rows[2][3].startswith("cli:")
        assert run(capsys, "roles", "list", "U0BOB", *c)[1].count("U0BOB") == 1

        status, out, _ = run(
            capsys, "roles", "revoke", "U0ALICE", "approver", "--provider", "flags", *c
        )
        assert (status, out) == (0, "revoked approver from U0ALICE for provider flags\n")
        status, _, err = run(capsys, "roles", "revoke", "U0ALICE", "approver", *c)
        assert (status, err) == (1, "resetbot: U0ALICE holds no approver grant for all providers\n")

        out_file = config.parent / "audit.jsonl"
        status, _, err = run(
            capsys, "audit", "export", "--format", "jsonl", "--output", str(out_file), *c
        )
        assert status == 0 and "wrote 3 events" in err
        with out_file.open(encoding="utf-8") as fh:
            actions = [(r["action"], r["target"], r["provider"]) for r in read_export("jsonl", fh)]
        assert actions == [
            ("role.granted", "U0ALICE", "flags"),
            ("role.granted", "U0BOB", "*"),
            ("role.revoked", "U0ALICE", "flags"),
        ]

    def test_unknown_provider(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        status, _, err = run(
            capsys,
            "roles",
            "grant",
            "U0ALICE",
            "admin",
            "--provider",
            "edge",
            "--config",
            str(config),
        )
        assert (status, err) == (
            1,
            "resetbot: unknown provider 'edge'; configured: flags, gateway\n",
        )

    def test_bad_user_id(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Roles are keyed by Slack user id, never by name or e-mail."""
        status, _, err = run(capsys, "roles", "grant", "alice@example.com", "admin")
        assert status == 2
        assert "is not a Slack user id" in err


class TestAuditExport:
    @pytest.mark.parametrize("fmt", ["csv", "jsonl"])
    def test_stdout_and_since(
        self, fmt: str, config: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Export goes to stdout by default; --since in the future leaves only a CSV header."""
        c = ("--config", str(config))
        run(capsys, "roles", "grant", "U0ALICE", "requester", *c)
        status, out, _ = run(capsys, "audit", "export", "--format", fmt, *c)
        assert status == 0
        [row] = list(read_export(fmt, io.StringIO(out)))  # type: ignore[arg-type]
        assert (row["action"], row["target"]) == ("role.granted", "U0ALICE")
        status, out, _ = run(
            capsys, "audit", "export", "--format", fmt, "--since", "2999-01-01", *c
        )
        assert status == 0 and list(read_export(fmt, io.StringIO(out))) == []  # type: ignore[arg-type]

    def test_bad_since(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        status, _, err = run(capsys, "audit", "export", "--since", "yesterday")
        assert status == 2 and "not an ISO date" in err


class TestServe:
    def test_missing_slack_credentials(
        self, config: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """serve refuses to start without Slack credentials: one line each, exit 2."""
        status, _, err = run(capsys, "serve", "--config", str(config))
        assert status == 2
        assert err.splitlines() == [
            "slack.bot_token: required to serve (set SLACK_BOT_TOKEN)",
            "slack.signing_secret: required to serve over HTTP (set SLACK_SIGNING_SECRET)",
        ]

    def test_postgres_behind_head(
        self,
        config: Path,
        pg_url: str,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """serve on an un-migrated PostgreSQL says to run `resetbot db upgrade`, exit 1."""
        for name, value in SECRETS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("RESETBOT_DATABASE_URL", pg_url)
        status, _, err = run(capsys, "serve", "--config", str(config))
        assert status == 1
        assert err.startswith("resetbot: the database (") and err.count("\n") == 1
        assert "run `resetbot db upgrade` first" in err


def test_help_needs_no_config(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == 0
    for command in ("serve", "db", "roles", "audit", "config", "demo"):
        assert command in out


def test_console_script(tmp_path: Path) -> None:
    """The installed `resetbot` command: a broken config gives problem lines and exit 2."""
    exe = Path(sys.executable).parent / "resetbot"
    if not exe.exists():
        pytest.fail(f"{exe} is missing: install the project first (pip install -e '.[test]')")
    bad = tmp_path / "bad.toml"
    bad.write_text('admins = ["nobody"]\n[providers.x]\nkind = "tyk"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESETBOT_", "SLACK_"))}
    done = subprocess.run(  # noqa: S603 (our own console script)
        [str(exe), "config", "check", "--config", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "admins.0: not a Slack user id (U… or W…, as in the member's profile)",
        "providers.x.base_url: field required",
        "providers.x.admin_secret: field required",
    ]


class TestGroupGrants:
    def test_a_user_group_gets_the_approver_role(self, tmp_path: Path) -> None:
        """`roles grant S… approver`; any other role for a group is refused in one line."""
        config = tmp_path / "resetbot.toml"
        config.write_text(f'database_url = "sqlite:///{tmp_path / "g.db"}"\n')
        assert main(["roles", "grant", "S0MANAGERS", "approver", "--config", str(config)]) == 0
        assert main(["roles", "grant", "S0MANAGERS", "admin", "--config", str(config)]) == 1
