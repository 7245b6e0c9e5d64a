"""One running bot: store, providers, domain service, Slack client and app, workers, sweeper."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

import httpx
from slack_sdk import WebClient
from sqlalchemy import text

from bot.background import Background, Job, ProcessBackground, ThreadBackground
from bot.config import Settings
from bot.domain.service import ResetService
from bot.slack.app import build_app, make_web_client
from bot.slack.delivery import after_ack
from bot.slack.notify import SlackNotifier
from bot.slack.workflows import Workflows
from bot.store.db import Store
from bot.store.models import utcnow
from providers.base import Provider
from providers.registry import build_providers

log = logging.getLogger(__name__)


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        providers: Mapping[str, Provider[Any]] | None = None,
        provider_transport: httpx.BaseTransport | None = None,
        client: WebClient | None = None,
        clock: Callable[[], datetime] = utcnow,
        workers: int = 32,
        background: Literal["thread", "process"] = "thread",
        check_jobs_pickle: bool = False,
        sweep_interval: float | None = None,
        token_verification: bool = True,
    ) -> None:
        self.settings = settings
        self.store = store or Store(settings.database_url)
        self.providers = (
            dict(providers)
            if providers is not None
            else build_providers(settings.providers, transport=provider_transport)
        )
        self.service = ResetService(
            settings=settings, store=self.store, providers=self.providers, clock=clock
        )
        self.client = client or make_web_client(settings)
        self.listener_client = client or make_web_client(settings, in_listener=True)
        self.notifier = SlackNotifier(self.client, self.service)
        self.workflows = Workflows(self.service, self.notifier)
        # Provider calls, writes and Slack updates run there, never on Bolt's pool: a slow
        # provider can queue work, but it can never delay an acknowledgement.
        self.background: Background = (
            ProcessBackground(settings, workers=workers)
            if background == "process"
            else ThreadBackground(self, workers=workers, check_pickle=check_jobs_pickle)
        )
        self.sweep_interval = (
            sweep_interval if sweep_interval is not None else settings.sweep_interval_seconds
        )
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        # Renews the lease on this process's provider calls for as long as it is alive; runs
        # whether or not the sweeper does, so no other replica reports a live call as unknown.
        self._heartbeat = threading.Thread(
            target=self._beat, name="resetbot-heartbeat", daemon=True
        )
        self.app = build_app(self, token_verification=token_verification)
        if self.background.runs_here:
            self._heartbeat.start()

    def provider_actions(self) -> dict[str, list[str]]:
        return {name: [a.name for a in p.actions] for name, p in self.providers.items()}

    def provider_menu(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        return [
            (name, p.title, [(a.name, a.label) for a in p.actions])
            for name, p in sorted(self.providers.items())
        ]

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``fn(self, *args, **kwargs)`` in the background, once the current request's
        ack has been written (at once outside a request). ``fn`` must be module-level and its
        arguments plain data: under ``resetbot serve`` they travel to the worker process."""
        after_ack(self.background.accept(Job(fn, args, kwargs)))

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no background job is queued or running; False on time-out."""
        return self.background.wait_idle(timeout)

    def sweep_once(self) -> None:
        try:
            self.workflows.sweep()
        except Exception:
            log.exception("sweep failed; the next one retries")

    def _beat(self) -> None:
        interval = self.settings.dispatch_lease_seconds / 3
        while not self._stop.wait(interval):
            try:
                self.service.heartbeat()
            except Exception:
                log.exception("dispatch heartbeat failed; the next one retries")

    def start(self) -> None:
        """Start the sweeper: expiry, recovery and stale messages, also right after a restart.
        It runs where the jobs run (in the worker process under ``resetbot serve``)."""
        if self._sweeper is not None or not self.background.runs_here:
            return

        def loop() -> None:
            while True:
                self.sweep_once()
                if self._stop.wait(self.sweep_interval):
                    return

        self._sweeper = threading.Thread(target=loop, name="resetbot-sweeper", daemon=True)
        self._sweeper.start()

    def healthy(self) -> bool:
        if not self.background.alive():
            log.error("health check: the background worker is not running")
            return False
        try:
            with self.store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            log.exception("health check: database unreachable")
            return False
        return True

    def close(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=10)
        if self._heartbeat.is_alive():
            self._heartbeat.join(timeout=10)
        self.background.close()
        for provider in self.providers.values():
            provider.close()
        self.store.dispose()
