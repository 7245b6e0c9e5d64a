"""Prometheus metrics: what is counted, how it is exposed, and multiprocess mode for `serve`.

Every process (gunicorn's web workers, each background worker, the tests' rig) counts into its
own metrics; under ``resetbot serve`` they share a directory (prometheus_client's multiprocess
mode) and a scrape of any web worker sums them all. Labels come from bounded sets only: the
configured provider names (anything else is ``other``), action words, states, error kinds, Slack
method names. Never a request id, a user id, an e-mail or a secret.

Gauges that describe the store (pending requests, the audit outbox) are read at scrape time by
a collector the web process registers (``StoreCollector``); the rest are counted where things
happen. Values are created on first use (every metric here has labels), so enabling
multiprocess mode before the first count is enough, whatever was imported before.
"""

from __future__ import annotations

import hmac
import importlib.metadata
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
OTHER = "other"
FINAL_ACTIONS = {
    "request.succeeded": "succeeded",
    "request.failed": "failed",
    "request.unknown": "unknown",
    "request.denied": "denied",
    "request.expired": "expired",
    "request.cancelled": "cancelled",
}
DECISIONS = {"request.approval_added": "approve", "request.denied": "deny"}

_registry = CollectorRegistry(auto_describe=True)
_providers: frozenset[str] = frozenset()


def version() -> str:
    """resetbot's version, from the installed package's metadata."""
    try:
        return importlib.metadata.version("resetbot")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


REQUESTS_FILED = Counter(
    "resetbot_requests_filed",
    "Reset requests filed, by provider instance.",
    ["provider"],
    registry=_registry,
)
REQUESTS_FINISHED = Counter(
    "resetbot_requests_finished",
    "Reset requests that reached a final state, by provider instance and state.",
    ["provider", "state"],
    registry=_registry,
)
DECISIONS_TOTAL = Counter(
    "resetbot_decisions",
    "Approvals and denials recorded, by provider instance.",
    ["provider", "decision"],
    registry=_registry,
)
PROVIDER_CALL_SECONDS = Histogram(
    "resetbot_provider_call_seconds",
    "Provider calls (resolve, check, each action), by provider instance, action and outcome.",
    ["provider", "action", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=_registry,
)
PROVIDER_ERRORS = Counter(
    "resetbot_provider_errors",
    "Provider calls that failed, by provider instance and error kind.",
    ["provider", "kind"],
    registry=_registry,
)
SLACK_API_ERRORS = Counter(
    "resetbot_slack_api_errors",
    "Slack Web API calls that failed (after retries), by method.",
    ["method"],
    registry=_registry,
)
SLACK_API_RETRIES = Counter(
    "resetbot_slack_api_retries",
    "Slack Web API calls retried, by method and reason.",
    ["method", "reason"],
    registry=_registry,
)
BACKGROUND_JOBS = Gauge(
    "resetbot_background_jobs",
    "Background jobs queued or running, by pool.",
    ["pool"],
    multiprocess_mode="livesum",
    registry=_registry,
)
SWEEPS = Counter(
    "resetbot_sweeps",
    "Sweeper runs (expiry, recovery, stale messages), by outcome.",
    ["outcome"],
    registry=_registry,
)
WEBHOOK_DELIVERIES = Counter(
    "resetbot_audit_webhook_deliveries",
    "Audit events POSTed to the webhook, by outcome (delivered, or retried later).",
    ["outcome"],
    registry=_registry,
)


def set_providers(names: Iterable[str]) -> None:
    """The configured provider instances: the only values the ``provider`` label takes."""
    global _providers
    _providers = frozenset(names)


def provider_label(name: str | None) -> str:
    return name if name is not None and name in _providers else OTHER


def count_audit(events: Sequence[tuple[str, str | None]]) -> None:
    """Count committed audit events, given as (action, provider)."""
    for action, provider in events:
        label = provider_label(provider)
        if action == "request.filed":
            REQUESTS_FILED.labels(label).inc()
        if (state := FINAL_ACTIONS.get(action)) is not None:
            REQUESTS_FINISHED.labels(label, state).inc()
        if (decision := DECISIONS.get(action)) is not None:
            DECISIONS_TOTAL.labels(label, decision).inc()


def enable_multiprocess(directory: str) -> None:
    """Count into ``directory`` from now on, in this process and every process it starts.

    Call before anything is counted; spawned and forked children inherit the environment.
    """
    os.makedirs(directory, exist_ok=True)
    os.environ[MULTIPROC_ENV] = directory
    # prometheus_client chooses how values are stored when it is imported; it may have been
    # imported before the directory existed. No value exists yet (all metrics have labels).
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def process_exited(pid: int) -> None:
    """Drop a finished process's live gauges (its counters stay counted)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class StoreFigures:
    pending: int
    oldest_pending_age: float
    outbox_backlog: int
    oldest_outbox_age: float


class StoreCollector(Collector):
    """Gauges read from the store at scrape time, cached briefly.

    At most one read at a time: concurrent scrapes share the last figures instead of queueing
    on the database, so scrapes can never pile up on the request threads.
    """

    def __init__(self, read: Callable[[], StoreFigures], *, ttl: float = 2.0) -> None:
        self._read = read
        self._ttl = ttl
        self._lock = threading.Lock()
        self._figures: StoreFigures | None = None
        self._at = 0.0

    def _current(self) -> StoreFigures | None:
        if time.monotonic() - self._at < self._ttl or not self._lock.acquire(blocking=False):
            return self._figures
        try:
            self._figures = self._read()
        except Exception:
            self._figures = None  # the store is down: no figures rather than stale ones
        finally:
            self._at = time.monotonic()
            self._lock.release()
        return self._figures

    def collect(self) -> Iterator[Metric]:
        yield _info_family()
        figures = self._current()
        if figures is None:
            return
        yield GaugeMetricFamily(
            "resetbot_pending_requests", "Requests waiting for a decision.", figures.pending
        )
        yield GaugeMetricFamily(
            "resetbot_oldest_pending_request_age_seconds",
            "Age of the oldest request waiting for a decision (0 if none).",
            figures.oldest_pending_age,
        )
        yield GaugeMetricFamily(
            "resetbot_audit_outbox_backlog",
            "Audit events not yet delivered to the webhook.",
            figures.outbox_backlog,
        )
        yield GaugeMetricFamily(
            "resetbot_audit_outbox_oldest_age_seconds",
            "Age of the oldest audit event not yet delivered (0 if none).",
            figures.oldest_outbox_age,
        )


def _info_family() -> Metric:
    family = GaugeMetricFamily("resetbot_build_info", "resetbot's version.", labels=["version"])
    family.add_metric([version()], 1)
    return family


def exposition(extra: Sequence[Collector] = ()) -> bytes:
    """Everything counted (by every process in multiprocess mode), plus ``extra``."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Own())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


class _Own(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from _registry.collect()


CONTENT_TYPE = CONTENT_TYPE_LATEST


def token_matches(expected: str | None, authorization: str) -> bool:
    """Whether an ``Authorization`` header carries the bearer ``expected`` (always, if None)."""
    if expected is None:
        return True
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), expected)
