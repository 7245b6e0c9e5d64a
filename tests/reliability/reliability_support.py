"""Shared by the reliability tests: the figures they report, and `resetbot serve` as a process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bot.demo.rig import PEOPLE, SIGNING_SECRET, SUPPORT, free_port, write_config
from bot.demo.standin import Message, SlackDriver, SlackStandIn
from bot.server import EVENTS_PATH
from bot.store.db import Store, sqlite_path
from bot.store.migrate import upgrade
from bot.store.models import ResetRequest

# What the suite tried, printed at the end of the run (see conftest.pytest_terminal_summary).
FIGURES: Counter[str] = Counter()
_figures_lock = threading.Lock()


def count(name: str, n: int = 1) -> None:
    with _figures_lock:
        FIGURES[name] += n


def slack_world() -> SlackStandIn:
    standin = SlackStandIn().start()
    for person in PEOPLE:
        standin.add_user(person.id, person.handle, real_name=person.name)
    standin.add_channel(SUPPORT, "it-support")
    return standin


class Served:
    """``resetbot serve`` (gunicorn, HTTP mode) in its own process group, config from a TOML."""

    def __init__(
        self,
        workdir: Path,
        settings: Mapping[str, Any],
        *,
        name: str = "bot",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.env = dict(env or {})
        self.name = name
        self.config = write_config(workdir / f"{name}.toml", settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = workdir / f"{name}.{self.port}.stderr"
        self.proc: subprocess.Popen[bytes] | None = None
        self.database_url = str(settings.get("database_url", ""))

    @property
    def events_url(self) -> str:
        return self.url + EVENTS_PATH

    def start(self, timeout: float = 30.0) -> Served:
        path = sqlite_path(self.database_url)
        if path is not None and not Path(path).exists():
            upgrade(self.database_url)  # the release step: serve never creates a store
        exe = Path(sys.executable).with_name("resetbot")
        argv = [str(exe), "serve"] if exe.exists() else [sys.executable, "-m", "bot", "serve"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RESETBOT_", "SLACK_"))}
        env.update(
            RESETBOT_CONFIG=str(self.config),
            PORT=str(self.port),
            WEB_CONCURRENCY="1",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.env)
        with self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(  # noqa: S603 - our own entry point
                argv,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.proc.returncode}:\n" + self.stderr()
                )
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not become healthy:\n{self.stderr()}")

    def kill(self) -> None:
        """SIGKILL the whole process group (gunicorn's master and its worker): a crash."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def driver(self, standin: SlackStandIn) -> SlackDriver:
        return SlackDriver(standin, self.events_url, SIGNING_SECRET)


@contextmanager
def serving(workdir: Path, settings: Mapping[str, Any], *, name: str = "bot") -> Iterator[Served]:
    served = Served(workdir, settings, name=name)
    try:
        yield served.start()
    finally:
        served.stop()


def bot_settings(
    standin: SlackStandIn, database_url: str, providers: Mapping[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "admins": ["U0ADA"],
        "log_level": "DEBUG",
        **extra,
        "slack": {
            "api_url": standin.api_url,
            "bot_token": standin.bot_token,
            "signing_secret": SIGNING_SECRET,
        },
        "providers": dict(providers),
    }


def only_request(store: Store) -> ResetRequest | None:
    with store.session() as s:
        rows = list(s.scalars(select(ResetRequest)))
        for row in rows:
            s.expunge(row)
    return rows[0] if len(rows) == 1 else None


def approval_message(standin: SlackStandIn, req: ResetRequest) -> Message:
    assert req.approval_channel and req.approval_ts
    message = standin.message(req.approval_channel, req.approval_ts)
    assert message is not None
    return message
