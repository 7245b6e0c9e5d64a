"""The composition root: the one place that builds the web process and the background worker
from settings, handing each part only what it uses."""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx
from slack_sdk import WebClient

from bot import metrics
from bot.background import (
    Background,
    Job,
    ProcessBackground,
    ThreadBackground,
    become_worker,
    run_queue,
)
from bot.config import Settings
from bot.domain.catalog import Catalog
from bot.domain.confirmations import Confirmations
from bot.domain.context import Context
from bot.domain.decisions import Decisions
from bot.domain.dispatch import Dispatching
from bot.domain.filing import Filing
from bot.domain.ports import Teams
from bot.domain.queries import Queries
from bot.domain.roles import RoleAdmin
from bot.domain.upkeep import Upkeep
from bot.domain.workflow import Workflow
from bot.observed import observed
from bot.server import (
    ServerError,
    check_port,
    configure_logging,
    limit_malloc_arenas,
    make_wsgi_app,
    run_gunicorn,
    serve_socket_mode,
)
from bot.slack.app import build_app, make_web_client
from bot.slack.delivery import after_ack
from bot.slack.deps import JobDeps, ListenerDeps, Submit
from bot.slack.directory import SlackDirectory
from bot.slack.jobs import homes_changed
from bot.slack.notifier import SlackNotifier
from bot.slack.teams import SlackTeams
from bot.store import deliveries, outbox
from bot.store.db import Store, StoreError
from bot.store.models import utcnow
from bot.webhook import WebhookSender
from providers.base import Provider
from providers.http import set_call_deadline
from providers.registry import build_providers

log = logging.getLogger(__name__)

Mode = Literal["thread", "process"]


@dataclass
class Core:
    """The domain over its store and provider clients: what both processes share."""

    settings: Settings
    store: Store
    catalog: Catalog
    clock: Callable[[], datetime] = utcnow
    teams: Teams | None = None
    ctx: Context = field(init=False)
    filing: Filing = field(init=False)
    decisions: Decisions = field(init=False)
    queries: Queries = field(init=False)
    role_admin: RoleAdmin = field(init=False)

    def __post_init__(self) -> None:
        self.ctx = Context(self.settings, self.store, self.catalog, self.clock, self.teams)
        self.filing = Filing(self.ctx)
        self.decisions = Decisions(self.ctx)
        self.queries = Queries(self.ctx)
        self.role_admin = RoleAdmin(self.ctx)

    def close(self) -> None:
        self.catalog.close()
        self.store.dispose()


def build_core(
    settings: Settings,
    *,
    store: Store | None = None,
    providers: Mapping[str, Provider[Any]] | None = None,
    provider_transport: httpx.BaseTransport | None = None,
    clock: Callable[[], datetime] = utcnow,
    teams: Teams | None = None,
) -> Core:
    set_call_deadline(settings.provider_call_deadline_seconds)
    catalog = Catalog(
        observed(
            providers
            if providers is not None
            else build_providers(settings.providers, transport=provider_transport)
        )
    )
    store = store or Store(settings.database_url)
    store.outbox = settings.audit.webhook is not None  # recorded with each audit event
    # User groups are asked of Slack with a short time-out and no retries: a decision's check
    # never waits long, and a failed check refuses.
    if teams is None:
        teams = SlackTeams(make_web_client(settings, in_listener=True))
    return Core(settings, store, catalog, clock, teams)


def submitter(background: Background) -> Submit:
    """``submit(fn, *args)``: a job, started once the current request's ack is written."""

    def submit(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        after_ack(background.accept(Job(fn, args, kwargs)))

    return submit


class Worker:
    """Runs the jobs, the sweeper and the dispatch heartbeat: in the worker process under
    ``resetbot serve``, or inside the web process (the demo, the tests)."""

    def __init__(
        self,
        core: Core,
        *,
        client: WebClient | None = None,
        workers: int = 32,
        check_pickle: bool = False,
        sweep_interval: float | None = None,
    ) -> None:
        self.core = core
        settings = core.settings
        self.client = client or make_web_client(settings)
        self.notifier = SlackNotifier(self.client)
        self.dispatching = Dispatching(core.ctx)
        self.confirmations = Confirmations(core.ctx)
        self.workflow = Workflow(
            filing=core.filing,
            decisions=core.decisions,
            dispatching=self.dispatching,
            upkeep=Upkeep(core.ctx),
            confirmations=self.confirmations,
            notifier=self.notifier,
            directory=SlackDirectory(self.client),
        )
        self.background = ThreadBackground(workers=workers, check_pickle=check_pickle)
        self.deps = JobDeps(
            catalog=core.catalog,
            filing=core.filing,
            decisions=core.decisions,
            queries=core.queries,
            role_admin=core.role_admin,
            confirmations=self.confirmations,
            workflow=self.workflow,
            notifier=self.notifier,
            client=self.client,
            submit=submitter(self.background),
        )
        self.background.context = self.deps
        self.notifier.on_change = lambda: self.deps.submit(homes_changed)
        self.sweep_interval = (
            sweep_interval if sweep_interval is not None else settings.sweep_interval_seconds
        )
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        # Audit events to the webhook, from the outbox (any process's), where the sweeper runs.
        webhook = settings.audit.webhook
        self.webhook = WebhookSender(core.store, webhook) if webhook is not None else None
        # Renews the lease on this process's provider calls for as long as it is alive; runs
        # whether or not the sweeper does, so no other replica reports a live call as unknown.
        self._heartbeat = threading.Thread(
            target=self._beat, name="resetbot-heartbeat", daemon=True
        )
        self._heartbeat.start()

    def sweep_once(self) -> None:
        try:
            self.workflow.sweep()
        except Exception:
            metrics.SWEEPS.labels("failed").inc()
            log.exception("sweep failed; the next one retries")
        else:
            metrics.SWEEPS.labels("ok").inc()

    def _beat(self) -> None:
        interval = self.core.settings.dispatch_lease_seconds / 3
        while not self._stop.wait(interval):
            try:
                self.dispatching.heartbeat()
            except Exception:
                log.exception("dispatch heartbeat failed; the next one retries")

    def start(self) -> None:
        """Start the sweeper: expiry, recovery and stale messages, also right after a restart."""
        if self._sweeper is not None:
            return

        def loop() -> None:
            while True:
                self.sweep_once()
                if self._stop.wait(self.sweep_interval):
                    return

        self._sweeper = threading.Thread(target=loop, name="resetbot-sweeper", daemon=True)
        self._sweeper.start()
        if self.webhook is not None:
            self.webhook.start()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job is queued or running; False on time-out."""
        return self.background.wait_idle(timeout)

    def close(self) -> None:
        """Stop the sweeper and heartbeat and let the jobs finish (the core stays open)."""
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=10)
        if self._heartbeat.is_alive():
            self._heartbeat.join(timeout=10)
        if self.webhook is not None:
            self.webhook.close()
        self.background.close()


class Web:
    """The web process: the Bolt app, its listeners, and where they hand their work."""

    def __init__(
        self,
        core: Core,
        *,
        background: Mode = "thread",
        client: WebClient | None = None,
        workers: int = 32,
        check_pickle: bool = False,
        sweep_interval: float | None = None,
        token_verification: bool = True,
    ) -> None:
        self.core = core
        settings = core.settings
        # Provider calls, writes and Slack updates run there, never on the request's thread:
        # a slow provider can queue work, but it can never delay an acknowledgement.
        self.worker: Worker | None = None
        self.background: Background
        if background == "process":
            self.background = ProcessBackground(settings, run_worker, workers=workers)
        else:
            self.worker = Worker(
                core,
                client=client,
                workers=workers,
                check_pickle=check_pickle,
                sweep_interval=sweep_interval,
            )
            self.background = self.worker.background
        deps = ListenerDeps(
            catalog=core.catalog,
            filing=core.filing,
            decisions=core.decisions,
            client=client or make_web_client(settings, in_listener=True),
            submit=submitter(self.background),
        )
        self.app = build_app(
            settings,
            deps,
            client or make_web_client(settings),
            token_verification=token_verification,
        )
        self._figures = metrics.StoreCollector(lambda: store_figures(core.store, core.clock()))
        token = settings.metrics_token
        self.metrics_token = token.get_secret_value() if token is not None else None
        # Whether another replica saw a delivery first, asked once its ack is out: only with a
        # store replicas share (SQLite is one process's, whose memory has seen everything).
        self.replays = (
            None
            if core.store.url.startswith("sqlite")
            else deliveries.SharedCheck(core.store, core.clock)
        )

    def wsgi(self) -> Any:
        """The WSGI app: ``/slack/events``, ``/healthz`` and ``/metrics``."""
        secret = self.core.settings.slack.signing_secret
        return make_wsgi_app(
            self.app,
            self.healthy,
            scrape=self.scrape,
            metrics_token=self.metrics_token,
            signing_secret=secret.get_secret_value() if secret is not None else None,
            store_problem=self.core.store.problem,
            first_here=deliveries.first_here,
            first_everywhere=self.replays.check if self.replays is not None else None,
        )

    def start(self) -> None:
        """Start the sweeper where the jobs run (in the worker process, it starts itself)."""
        if self.worker is not None:
            self.worker.start()

    def scrape(self) -> bytes:
        """``GET /metrics``: what every process counted, and the store's figures now."""
        return metrics.exposition([self._figures])

    def healthy(self) -> bool:
        if not self.background.alive():
            log.error("health check: the background worker is not running")
            return False
        try:
            self.core.store.ping()
        except StoreError:
            log.exception("health check: database unreachable")
            return False
        return True

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
        else:
            self.background.close()
        self.core.close()


def store_figures(store: Store, now: datetime) -> metrics.StoreFigures:
    pending, oldest = outbox.pending(store)
    backlog, oldest_event = outbox.backlog(store)
    return metrics.StoreFigures(
        pending=pending,
        oldest_pending_age=(now - oldest).total_seconds() if oldest else 0.0,
        outbox_backlog=backlog,
        oldest_outbox_age=(now - oldest_event).total_seconds() if oldest_event else 0.0,
    )


def build_web(settings: Settings, **options: Any) -> Web:
    """A web process from settings; ``options`` go to ``build_core`` and ``Web``."""
    core_options = {
        k: options.pop(k)
        for k in ("store", "providers", "provider_transport", "clock")
        if k in options
    }
    return Web(build_core(settings, **core_options), **options)


def run_worker(
    settings: Settings,
    jobs: multiprocessing.Queue[Job | None],
    parent: int,
    workers: int,
    nice: int,
) -> None:
    """The worker process's entry point: run jobs until the web process says stop or is gone."""
    become_worker(nice)
    configure_logging(settings.log_level, settings.log_format)
    limit_malloc_arenas()
    worker = Worker(build_core(settings), workers=workers)
    worker.start()
    log.info("background worker ready (pid %s)", os.getpid())
    try:
        run_queue(jobs, parent, lambda job: worker.background.accept(job)())
    finally:
        started = time.monotonic()
        worker.close()
        worker.core.close()
        metrics.process_exited(os.getpid())
        log.info("background worker stopped after %.1f s of draining", time.monotonic() - started)


# Slack's answers that mean the token itself is wrong: retrying cannot help.
REJECTED_TOKEN = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "not_allowed_token_type",
}
SLACK_CHECK_SECONDS = 20.0  # retrying an unreachable Slack; one more call's time-out may follow
SLACK_CHECK_TIMEOUT = 5.0


def check_slack(settings: Settings, *, budget: float | None = None) -> None:
    """``auth.test`` before serving, with a few retries: raise ServerError if Slack cannot be
    reached (status 1) or rejects the token (status 2)."""
    from slack_sdk.errors import SlackApiError

    token = settings.slack.bot_token
    api_url = str(settings.slack.api_url)
    client = WebClient(
        token=token.get_secret_value() if token is not None else None,
        base_url=api_url,
        timeout=int(SLACK_CHECK_TIMEOUT),
        retry_handlers=[],
    )
    deadline = time.monotonic() + (SLACK_CHECK_SECONDS if budget is None else budget)
    wait = 0.5
    while True:
        try:
            client.auth_test()
            return
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            if error in REJECTED_TOKEN:
                raise ServerError(
                    f"Slack rejected SLACK_BOT_TOKEN ({error}) at {api_url}auth.test", status=2
                ) from None
            why = f"it answered {error}"
        except Exception as exc:  # urllib's, socket's and the SDK's errors alike
            why = _reason(exc)
        if time.monotonic() + wait >= deadline:
            raise ServerError(f"cannot reach Slack at {api_url} ({why}); not serving")
        log.warning("Slack at %s not answering (%s); retrying", api_url, why)
        time.sleep(wait)
        wait = min(wait * 2, 4.0)


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None) or exc
    return f"{type(inner).__name__}: {str(inner)[:120]}" if str(inner) else type(inner).__name__


def serve(settings: Settings, *, port: int = 3000, host: str = "0.0.0.0") -> None:  # noqa: S104
    """``resetbot serve``: HTTP under gunicorn, or Socket Mode when SLACK_APP_TOKEN is set.

    Raises ServerError (Slack unreachable or the token refused) or ServerError (the port).
    """
    configure_logging(settings.log_level, settings.log_format)
    limit_malloc_arenas()
    check_port(host, port)
    log.info("resetbot %s starting", metrics.version())
    check_slack(settings)
    # Every process started from here counts into one directory; a scrape sums them.
    own_dir = metrics.multiprocess_dir() is None
    metrics.enable_multiprocess(
        metrics.multiprocess_dir() or tempfile.mkdtemp(prefix="resetbot-metrics-")
    )
    try:
        if settings.slack.app_token is not None:
            web = build_web(settings, background=settings.background)
            web.start()
            serve_socket_mode(
                web.app,
                settings.slack.app_token.get_secret_value(),
                web.healthy,
                port=port,
                host=host,
                on_exit=web.close,
                scrape=web.scrape,
                metrics_token=web.metrics_token,
            )
            return
        serve_http(settings, port=port, host=host)
    finally:
        if own_dir:
            shutil.rmtree(metrics.multiprocess_dir() or "", ignore_errors=True)


def serve_http(settings: Settings, *, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104
    webs: list[Web] = []

    def close_all() -> None:
        for web in webs:
            web.close()
        metrics.process_exited(os.getpid())

    def load() -> Any:
        # Runs in each gunicorn worker after the fork: engines, pools and threads are per process.
        web = build_web(settings, background=settings.background)
        web.start()
        webs.append(web)
        log.info(
            "resetbot %s ready on %s:%s (worker %s)", metrics.version(), host, port, os.getpid()
        )
        return web.wsgi()

    run_gunicorn(load, host=host, port=port, log_level=settings.log_level, on_exit=close_all)
