"""``resetbot serve``'s start-up and the operator's mistakes: one line each, never a traceback."""

from __future__ import annotations

import http.server
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import bootstrap
from bot.cli import main
from bot.config import load_settings
from bot.store.migrate import upgrade

CONFIG = """
database_url = "{url}"
admins = ["U0ADMIN"]

[slack]
api_url = "{api}"

[providers.flags]
kind = "unleash"
base_url = "https://unleash.example.com"
token = "{token}"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _own_logging() -> Iterator[None]:
    """serve configures the root logger onto the captured stderr: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("DATABASE_URL", "PORT", "HOST", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("PORT", str(free_port()))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bootstrap, "SLACK_CHECK_SECONDS", 1.5, raising=False)
    return monkeypatch


def write_config(
    tmp_path: Path,
    *,
    url: str | None = None,
    api: str = "http://127.0.0.1:9/api/",
    token: str = "flags-token",  # noqa: S107
    migrate: bool = True,
) -> Path:
    url = url or f"sqlite:///{tmp_path / 'bot.db'}"
    if migrate and url.startswith("sqlite"):
        upgrade(url)
    path = tmp_path / "resetbot.toml"
    path.write_text(CONFIG.format(url=url, api=api, token=token), encoding="utf-8")
    return path


def serve(
    capsys: pytest.CaptureFixture[str], config: Path, *extra: str
) -> tuple[int, list[str], float]:
    started = time.monotonic()
    status = main(["serve", "--config", str(config), *extra])
    took = time.monotonic() - started
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("resetbot:") or ":" in line]
    return status, lines, took


class _SlowInvalidAuth(http.server.BaseHTTPRequestHandler):
    delay = 2.0

    def do_POST(self) -> None:
        time.sleep(self.delay)
        body = json.dumps({"ok": False, "error": "invalid_auth"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def slow_slack() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowInvalidAuth)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    server.shutdown()
    server.server_close()


class TestSlackAtStart:
    """Finding 11."""

    def test_unreachable_slack_exits_1_naming_the_url(
        self, env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        config = write_config(tmp_path)
        status, lines, took = serve(capsys, config)
        assert status == 1 and took < 30
        (last,) = [line for line in lines if line.startswith("resetbot:")]
        assert "http://127.0.0.1:9/api/" in last

    def test_unreachable_slack_in_socket_mode(
        self, env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        env.setenv("SLACK_APP_TOKEN", "xapp-test")
        status, lines, _ = serve(capsys, write_config(tmp_path))
        assert status == 1 and "cannot reach Slack" in lines[-1]

    def test_slow_invalid_auth_exits_2_naming_the_token(
        self,
        env: pytest.MonkeyPatch,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        slow_slack: str,
    ) -> None:
        status, lines, took = serve(capsys, write_config(tmp_path, api=slow_slack))
        assert status == 2 and took < 10
        assert "SLACK_BOT_TOKEN" in lines[-1] and "invalid_auth" in lines[-1]
        port = int(__import__("os").environ["PORT"])
        with socket.socket() as s:  # the port was never held
            s.bind(("0.0.0.0", port))  # noqa: S104


class TestOperatorMistakes:
    """Finding 12."""

    def test_port_not_a_number(
        self, env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        env.setenv("PORT", "abc")
        status, lines, _ = serve(capsys, write_config(tmp_path))
        assert status == 2 and lines == ["PORT: 'abc' is not a port number (0-65535)"]

    def test_port_in_use(
        self, env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            env.setenv("PORT", str(taken.getsockname()[1]))
            env.setenv("HOST", "127.0.0.1")
            status, lines, _ = serve(capsys, write_config(tmp_path))
        assert status == 1 and len(lines) == 1 and "the port is in use" in lines[0]

    def test_host_sets_the_listen_address(
        self, env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        env.setenv("HOST", "no-such-host.invalid")
        status, lines, _ = serve(capsys, write_config(tmp_path))
        assert status == 1 and "no-such-host.invalid" in lines[-1]

    def test_unsupported_database_scheme(
        self, env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        config = write_config(tmp_path, url="mysql://u@localhost/db", migrate=False)
        status, lines, _ = serve(capsys, config)
        assert status == 2 and len(lines) == 1
        assert "unsupported database 'mysql'" in lines[0] and "sqlite" in lines[0]

    def test_missing_sqlite_store_is_not_created(
        self, env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        status, lines, _ = serve(capsys, write_config(tmp_path, migrate=False))
        assert status == 1 and "run `resetbot db upgrade`" in lines[-1]
        assert str(tmp_path / "bot.db") in lines[-1]
        assert not (tmp_path / "bot.db").exists()

    def test_unopenable_sqlite_path_is_named(
        self, env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
        config = write_config(tmp_path, url=url, migrate=False)
        status = main(["db", "upgrade", "--config", str(config)])
        err = capsys.readouterr().err
        assert status == 1 and "Traceback" not in err and err.count("\n") == 1
        assert str(tmp_path / "no" / "such") in err

    def test_postgres_scheme_and_database_url(
        self, env: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        (tmp_path / "resetbot.toml").write_text("", encoding="utf-8")
        env.setenv("DATABASE_URL", "postgres://u:p@db.example.com:5432/app")
        settings = load_settings(tmp_path / "resetbot.toml")
        assert settings.database_url == "postgresql+psycopg://u:p@db.example.com:5432/app"
        env.setenv("RESETBOT_DATABASE_URL", "sqlite:///mine.db")
        assert load_settings(tmp_path / "resetbot.toml").database_url == "sqlite:///mine.db"

    def test_config_check_refuses_placeholders(
        self, env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        config = write_config(tmp_path, token="replace-me")  # noqa: S106
        status = main(["config", "check", "--config", str(config)])
        err = capsys.readouterr().err
        assert status == 2
        assert "providers.flags.token: still the example's placeholder 'replace-me'" in err

    def test_misspelt_variables_are_warned_about(self) -> None:
        from bot.config import unknown_env

        found = unknown_env(
            {
                "RESETBOT_LOG_LEVLE": "DEBUG",
                "RESETBOT_LOG_LEVEL": "DEBUG",
                "RESETBOT_SLACK__API_URL": "x",
                "RESETBOT_SLACK__API_URI": "x",
                "RESETBOT_THREADS": "4",
            }
        )
        assert found == [
            "warning: RESETBOT_LOG_LEVLE is not a resetbot setting (misspelt?); it is ignored",
            "warning: RESETBOT_SLACK__API_URI is not a resetbot setting (misspelt?); it is ignored",
        ]
