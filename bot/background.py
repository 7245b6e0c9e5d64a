"""Where the slow half of each interaction runs: a thread pool, or a worker process of its own.

A listener parses, checks and acks; everything that waits on a provider, on Slack's Web API or
on a database write is a ``Job`` -- a module-level function and plain, picklable arguments --
started once the ack has been written (``bot.slack.delivery``). A job runs as
``fn(context, *args)``: the context is what the composition root built for jobs.

* ``ThreadBackground`` runs jobs on a thread pool in the same process: the rig, the demo, the
  tests. It can check that every job would survive the trip to a worker process.
* ``ProcessBackground`` (``resetbot serve``) hands jobs to one worker process, which runs them
  on its own pools with its own database pool and Web API client, plus the sweeper and the
  dispatch heartbeat. Python threads share one interpreter lock, so work in the web process
  would delay every ack queued behind it; in a separate process at nice 10 it cannot. The web
  process only enqueues (a list append; a feeder thread pickles and writes), whatever the
  worker's backlog.

  Not SCHED_IDLE: it starves the job threads whenever anything at normal priority keeps every
  core busy, and an unprivileged thread cannot leave SCHED_IDLE again. A job thread starved
  that way holding SQLite's write lock would also hold up the heartbeat and the sweeper.

Two pools: jobs that wait on a provider (``calls_provider``) and the rest, so a slow or hung
provider never holds up a ``status`` answer or an approval being recorded.

What is queued lives in memory, as it did on the in-process pool: a crash loses jobs not yet
started, never a filed request (the sweeper recovers those from the store).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import queue
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from bot import metrics

if TYPE_CHECKING:
    from multiprocessing.context import SpawnProcess

    from bot.config import Settings

log = logging.getLogger(__name__)

WORKER_NICE = 10  # about a tenth of a core's share against an ack's, never none
STOP_GRACE_SECONDS = 25.0  # gunicorn allows a worker 30 s to finish; the jobs get most of it
RESTART_BACKOFF_MAX = 60.0  # seconds between restarts of a worker that keeps dying at once
QUICK_WORKERS = 8  # jobs that only read or write the store and talk to Slack

F = TypeVar("F", bound=Callable[..., Any])


def calls_provider(fn: F) -> F:
    """Marks a job (or an answer's work) that waits on a provider: it runs on the provider
    pool, so a slow or hung provider can hold up other provider calls, but never a `status`
    answer or an approval being recorded."""
    fn.calls_provider = True  # type: ignore[attr-defined]
    return fn


@dataclass(frozen=True, slots=True)
class Start:
    """How an accepted job is started once its ack is out, or given up (a replay) with
    ``cancel``, which undoes what accepting it counted."""

    start: Callable[[], None]
    cancel: Callable[[], None] = lambda: None

    def __call__(self) -> None:
        self.start()


@dataclass(frozen=True, slots=True)
class Job:
    """``fn(context, *args, **kwargs)``; ``fn`` module-level, so a job pickles by reference."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return getattr(self.fn, "__qualname__", repr(self.fn))

    @property
    def calls_provider(self) -> bool:
        return any(getattr(f, "calls_provider", False) for f in (self.fn, *self.args))

    def run(self, context: Any) -> None:
        try:
            self.fn(context, *self.args, **self.kwargs)
        except Exception:
            log.exception("background job %s failed", self.name)


class Background(Protocol):
    #: the sweeper and the dispatch heartbeat run where the jobs run
    runs_here: bool

    def accept(self, job: Job) -> Callable[[], None]:
        """Take ``job`` (counted from now); the returned callable starts it."""

    def alive(self) -> bool: ...

    def wait_idle(self, timeout: float) -> bool: ...

    def close(self) -> None: ...


class ThreadBackground:
    """Jobs on two thread pools in this process: one for provider calls, one for the rest."""

    runs_here = True

    def __init__(self, *, workers: int = 32, check_pickle: bool = False) -> None:
        #: what each job is called with; set by whoever builds the jobs' dependencies
        self.context: Any = None
        self._providers = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="resetbot-provider"
        )
        self._quick = ThreadPoolExecutor(
            max_workers=QUICK_WORKERS, thread_name_prefix="resetbot-quick"
        )
        self._check_pickle = check_pickle
        self._busy = threading.Condition()
        self._inflight = 0

    def accept(self, job: Job) -> Callable[[], None]:
        if self._check_pickle:
            # What ProcessBackground would send: a closure or a live client fails here, in
            # the tests, rather than in production's worker process.
            job = pickle.loads(pickle.dumps(job))  # noqa: S301 -- our own bytes, just made
        queued = metrics.BACKGROUND_JOBS.labels("provider" if job.calls_provider else "quick")
        with self._busy:
            self._inflight += 1
        queued.inc()

        def done() -> None:
            queued.dec()
            with self._busy:
                self._inflight -= 1
                self._busy.notify_all()

        def run() -> None:
            try:
                job.run(self.context)
            finally:
                done()

        def start() -> None:
            try:
                (self._providers if job.calls_provider else self._quick).submit(run)
            except RuntimeError:  # shut down meanwhile
                done()
                log.warning("background job %s dropped: shutting down", job.name)

        return Start(start, cancel=done)

    def alive(self) -> bool:
        return True

    def wait_idle(self, timeout: float) -> bool:
        with self._busy:
            return self._busy.wait_for(lambda: self._inflight == 0, timeout)

    def close(self) -> None:
        # Jobs start jobs (a decision, then its message update and provider call): let the
        # queued ones finish before the pools stop taking any.
        if not self.wait_idle(STOP_GRACE_SECONDS):
            log.warning(
                "background jobs still running after %.0f s; stopping anyway", STOP_GRACE_SECONDS
            )
        self._quick.shutdown(wait=True)
        self._providers.shutdown(wait=True)


class ProcessBackground:
    """Jobs in one worker process, restarted if it dies."""

    runs_here = False

    def __init__(
        self,
        settings: Settings,
        entry: WorkerEntry,
        *,
        workers: int = 32,
        nice: int = WORKER_NICE,
    ) -> None:
        self._settings = settings
        self._entry = entry
        self._workers = workers
        self._nice = nice
        self._ctx = multiprocessing.get_context("spawn")  # never fork a threaded process
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._queue: multiprocessing.Queue[Job | None] = self._ctx.Queue()
        self._process = self._spawn(self._queue)
        self._monitor = threading.Thread(
            target=self._watch, name="resetbot-worker-monitor", daemon=True
        )
        self._monitor.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def _spawn(self, jobs: multiprocessing.Queue[Job | None]) -> SpawnProcess:
        self._spawned_at = time.monotonic()
        process = self._ctx.Process(
            target=self._entry,
            name="resetbot-worker",
            args=(self._settings, jobs, os.getpid(), self._workers, self._nice),
        )
        process.start()
        log.info("background worker started (pid %s)", process.pid)
        return process

    def _watch(self) -> None:
        delay = 1.0
        while not self._closing.wait(delay):
            if self._process.is_alive():
                if time.monotonic() - self._spawned_at > RESTART_BACKOFF_MAX:
                    delay = 1.0
                continue
            # One that dies young (a bug on start-up) is restarted less and less often.
            lived = time.monotonic() - self._spawned_at
            delay = 1.0 if lived > RESTART_BACKOFF_MAX else min(delay * 2, RESTART_BACKOFF_MAX)
            with self._lock:
                if self._closing.is_set():
                    return
                log.error(
                    "background worker %s exited with %s; starting a new one (jobs it "
                    "had not started are lost; the sweeper recovers filed requests)",
                    self._process.pid,
                    self._process.exitcode,
                )
                metrics.process_exited(self._process.pid or 0)  # its job gauge is gone too
                # A fresh queue: the dead process may have died holding the old one's lock.
                self._queue.close()
                self._queue = self._ctx.Queue()
                self._process = self._spawn(self._queue)

    def accept(self, job: Job) -> Callable[[], None]:
        def start() -> None:
            with self._lock:
                self._queue.put(job)  # appends; a feeder thread pickles and writes

        return start

    def alive(self) -> bool:
        return self._process.is_alive()

    def wait_idle(self, timeout: float) -> bool:
        raise NotImplementedError("a worker process's jobs are observed through Slack")

    def close(self) -> None:
        with self._lock:
            self._closing.set()
            self._queue.put(None)
        self._process.join(STOP_GRACE_SECONDS)
        if self._process.is_alive():
            log.warning(
                "background worker did not finish in %.0f s; stopping it", STOP_GRACE_SECONDS
            )
            self._process.terminate()
            self._process.join(5)
        self._queue.close()
        self._queue.join_thread()


# The worker process's entry point: ``entry(settings, jobs, parent_pid, workers, nice)``,
# module-level so that a spawned process can import it by name.
WorkerEntry = Callable[["Settings", "multiprocessing.Queue[Job | None]", int, int, int], None]


def become_worker(nice: int) -> None:
    """Set up a freshly spawned worker process: deaf to signals, at a lower CPU priority.

    The web process decides when to stop (it drains first); a signal to the whole process
    group must not cut provider calls short.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice:
        try:
            os.nice(nice)
        except OSError:
            log.warning("could not lower the background worker's CPU priority")


def run_queue(
    jobs: multiprocessing.Queue[Job | None], parent: int, start: Callable[[Job], None]
) -> None:
    """Start each job the web process sends until it says stop or is gone."""
    while True:
        try:
            job = jobs.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:
                log.error("the web process is gone; background worker stopping")
                return
            continue
        if job is None:
            return
        start(job)
