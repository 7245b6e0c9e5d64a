"""resetbot against a bare Bolt app, both under ``resetbot serve``'s gunicorn gthread stack.

``python -m tests.benchmarks`` (13 to 25 minutes), ``--quick`` (every phase with few requests,
about 20 seconds) or ``--smoke`` (one and 64 senders, the fewest requests that still produce
every kind of row, a 0.2 s provider instead of 2 s: about 10 seconds, for the test suite; its
figures mean nothing). Prints one markdown table and writes it to
``tests/benchmarks/results.md`` (``--output`` elsewhere).

Who runs where (2 cores, so this matters):

* the servers: ``resetbot serve`` (SQLite, then PostgreSQL) and the bare Bolt app, each its own
  gunicorn master + worker process, started from a temporary TOML config;
* the load driver: its own process (``tests/benchmarks/load.py``, standard library only), so
  its sender threads never compete for a GIL with what they measure;
* this process: the Slack stand-in (the Web API and response URLs the bot calls) and the
  provider sandbox, i.e. what lives on other machines in production. Their CPU still comes
  out of the same 2 cores, for resetbot only: the bare app never calls them. The table gives
  it per request ("stand-ins' CPU": the CPU of this process's threads over the row, the main
  thread's polling while a row drains left out).

The command sent is ``/reset-password community userNNN@example.com <reason>``: the ack says
"Looking up…" after checking the command's shape (no database, no network), and the access
check, look-up, filing (writes), approval message and reply run in resetbot's background
worker process, as in production. ``status`` is measured too (its ack a placeholder, the read
and the list in the background) and ``help``, answered in the ack itself: what resetbot's
layers cost on top of Bolt. A row ends when every answer that replaces an ack is in, so its
CPU column includes that background work.

Each resetbot latency row is **paired** with bare Bolt: before each of its rounds (three in a
full run), the bare app, idle and running beside it, gets the same number of requests at the
same concurrency, and the ratio is taken between the pooled rounds. Bare Bolt's own p99 at 64
senders can move by a factor of two from one run to the next on the same machine, so a ratio
against one sample taken minutes earlier says more about that sample than about resetbot.

Bare Bolt is also measured with a busy loop per core at the background worker's nice (10):
"every core busy", the floor any ack meets on these 2 cores while background work -- anyone's
-- keeps both busy, as resetbot's own work does during a row. For context, no ratio.

``--pause-background`` is an ablation: resetbot's background worker is held (SIGSTOP) while
each ``file``/``status``/``help`` row is sent and continued before the row drains (not in the
slow-provider rows, whose point is the work in flight). It splits what the
acknowledging process costs from what the work each command sets off (the worker, the
database, the stand-ins) costs the acks it shares 2 cores with. ``--standins-nice N`` is
another: the stand-in's and the sandbox's threads at nice N, as if they were elsewhere.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import secrets
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bot.background import WORKER_NICE
from bot.demo.rig import SIGNING_SECRET, SUPPORT, free_port, toml_value, wait_for
from bot.demo.sandboxes import Sandbox, start_sandbox
from bot.demo.standin import APP_ID, TEAM_ID, SlackStandIn
from bot.domain import roles
from bot.store.db import Store
from bot.store.migrate import upgrade
from bot.store.models import FINAL_STATES, RequestState, ResetRequest, Role

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
PG_ADMIN_URL = os.environ.get(
    "RESETBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PROVIDER = "community"
APPROVALS = "C0APPROVALS"
ADMIN = "U0ADA"
APPROVER = "U0BOB"
REQUESTERS = [f"U0REQ{i:03d}" for i in range(64)]
TARGETS = 400  # accounts in the sandbox; with 64 requesters the pending limits never bite
BACKGROUND = ["process"]  # resetbot's `background` setting (--background)
PAUSE_BACKGROUND = [False]  # --pause-background: hold the worker while a row is measured


@dataclass(frozen=True)
class Plan:
    warmup: int
    levels: tuple[tuple[int, int], ...]  # (concurrent senders, requests)
    rounds: int  # latency rows: each round a bare Bolt sample, then resetbot's, pooled
    slow_requests: int
    slow_seconds: float  # the provider's latency per call in the slow-provider rows
    throughput_requests: int
    memory_total: int
    startups: int

    @classmethod
    def full(cls) -> Plan:
        # 600 a round at one sender: a p99 over 1,800 samples, not the 6th-worst of 600
        return cls(
            warmup=1000,
            levels=((1, 600), (16, 1000), (64, 2000)),
            rounds=3,
            slow_requests=200,
            slow_seconds=2.0,
            throughput_requests=300,
            memory_total=10_000,
            startups=3,
        )

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            warmup=20,
            levels=((1, 10), (16, 32), (64, 64)),
            rounds=1,
            slow_requests=8,
            slow_seconds=2.0,
            throughput_requests=8,
            memory_total=300,
            startups=1,
        )

    @classmethod
    def smoke(cls) -> Plan:
        """Every phase and every kind of row, with as little as each needs: for the tests."""
        return cls(
            warmup=10,
            levels=((1, 4), (64, 64)),
            rounds=1,
            slow_requests=4,
            slow_seconds=0.2,
            throughput_requests=4,
            memory_total=40,
            startups=1,
        )


# Small helpers


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def standins_cpu() -> float:
    """CPU seconds of this process's threads but the calling (main) one: the Slack stand-in's
    and the provider sandbox's. Not the main thread's polling of the store while a row
    drains, nor the load driver's (a child)."""
    own = resource.getrusage(resource.RUSAGE_SELF)  # microseconds; os.times() has ticks
    return own.ru_utime + own.ru_stime - time.thread_time()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (robust to other load on the machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered)) + 0.5) - 1))
    return ordered[k]


def machine_info() -> dict[str, str]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    import gunicorn  # type: ignore[import-untyped]
    import slack_bolt
    import sqlalchemy

    return {
        "CPUs": str(os.cpu_count()),
        "CPU model": model,
        "memory": mem,
        "Python": platform.python_version(),
        "OS": platform.platform(terse=True),
        "slack_bolt": slack_bolt.version.__version__,
        "gunicorn": gunicorn.__version__,
        "SQLAlchemy": sqlalchemy.__version__,
    }


# The pieces in this process: Slack and the provider


@dataclass
class World:
    standin: SlackStandIn
    sandbox: Sandbox
    emails: list[str]

    @classmethod
    def start(cls) -> World:
        standin = SlackStandIn().start()
        standin.add_channel(SUPPORT, "it-support")
        standin.add_channel(APPROVALS, "reset-approvals")
        for uid in [ADMIN, APPROVER, *REQUESTERS]:
            standin.add_user(uid, uid.lower(), real_name=uid)
        sandbox = start_sandbox("mighty_networks")
        emails = [f"user{i:03d}@example.com" for i in range(TARGETS)]
        for i, email in enumerate(emails):
            sandbox.add_user(email=email, name=f"User {i:03d}")
        return cls(standin, sandbox, emails)

    def stop(self) -> None:
        self.sandbox.stop()
        self.standin.stop()

    @staticmethod
    def renice(nice: int) -> None:
        """Every thread of this process but the main one (the stand-in's and the sandbox's
        servers) at ``nice``; the threads they start for each connection inherit it."""
        main = threading.main_thread().native_id
        for task in Path("/proc/self/task").iterdir():
            if int(task.name) != main:
                with contextlib.suppress(OSError):  # a connection's thread, gone meanwhile
                    os.setpriority(os.PRIO_PROCESS, int(task.name), nice)

    def calls(self, method: str, since: int = 0, **match: Any) -> int:
        return sum(
            1
            for c in self.standin.calls[since:]
            if c.method == method and all(c.params.get(k) is not None for k in match)
        )

    # Slack's payloads, as the stand-in's driver builds them (see bot/demo/standin/driver.py).

    def command(self, user: str, text: str) -> str:
        return urlencode(
            {
                "token": "legacy-token",
                "team_id": TEAM_ID,
                "team_domain": "acme",
                "channel_id": SUPPORT,
                "channel_name": "it-support",
                "user_id": user,
                "user_name": user.lower(),
                "command": "/reset-password",
                "text": text,
                "api_app_id": APP_ID,
                "is_enterprise_install": "false",
                "response_url": self.standin.new_response_url(SUPPORT, user),
                "trigger_id": f"{secrets.randbelow(10**9)}.{int(time.time())}.bench",
            }
        )

    def file_bodies(self, n: int, start: int = 0) -> list[str]:
        return [
            self.command(
                REQUESTERS[i % len(REQUESTERS)],
                f"{PROVIDER} {self.emails[i % len(self.emails)]} "
                f"locked out after a phone swap, ticket {i}",
            )
            for i in range(start, start + n)
        ]

    def status_bodies(self, n: int) -> list[str]:
        return [self.command(REQUESTERS[i % len(REQUESTERS)], "status") for i in range(n)]

    def help_bodies(self, n: int) -> list[str]:
        return [self.command(REQUESTERS[i % len(REQUESTERS)], "help") for i in range(n)]

    @staticmethod
    def approval(request_id: str) -> str:
        payload = {
            "type": "view_submission",
            "user": {"id": APPROVER, "username": "u0bob", "name": "u0bob", "team_id": TEAM_ID},
            "team": {"id": TEAM_ID, "domain": "acme"},
            "api_app_id": APP_ID,
            "token": "legacy-token",
            "trigger_id": f"{secrets.randbelow(10**9)}.bench",
            "view": {
                "id": f"V{secrets.token_hex(5).upper()}",
                "type": "modal",
                "callback_id": "approve_modal",
                "private_metadata": request_id,
                "state": {"values": {}},
                "blocks": [],
            },
            "response_urls": [],
        }
        return urlencode({"payload": json.dumps(payload)})


# The servers


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    workdir: Path
    store: Store | None = None
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    startups: list[float] = field(default_factory=list)
    sent: int = 0
    filed: int = 0
    memory: list[tuple[int, float]] = field(default_factory=list)
    answers: Callable[[], int] | None = None  # response_url posts to this server's commands
    answers_due: int = 0  # commands sent whose answer replaces the ack (file, status)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Launch; seconds until ``/healthz`` answered 200."""
        self.port = free_port()
        log = (self.workdir / f"{self.name.replace(' ', '-')}.log").open("ab")
        began = time.perf_counter()
        self.proc = subprocess.Popen(  # noqa: S603
            self.argv,
            env={**self.env, "PORT": str(self.port)},
            cwd=self.workdir,
            stdout=log,
            stderr=log,
        )
        log.close()

        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}; see {self.workdir}"
                )
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:  # noqa: S310
                    return bool(r.status == 200)
            except (OSError, urllib.error.URLError):
                return False

        wait_for(healthy, 30, f"{self.name} to answer /healthz", poll=0.005)
        took = time.perf_counter() - began
        self.startups.append(took)
        return took

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def workers(self) -> list[int]:
        """gunicorn's workers and everything they started (resetbot's background worker)."""
        assert self.proc is not None
        found, todo = [], children(self.proc.pid)
        while todo:
            pid = todo.pop()
            found.append(pid)
            with contextlib.suppress(OSError):
                todo += children(pid)
        return found

    def rss(self) -> float:
        return sum(rss_mb(pid) for pid in self.workers())

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.workers())

    def web_cpu(self) -> float:
        """gunicorn's workers alone: the processes that acknowledge."""
        assert self.proc is not None
        return sum(cpu_seconds(pid) for pid in children(self.proc.pid))

    @contextlib.contextmanager
    def background_held(self, hold: bool) -> Iterator[None]:
        """With ``hold``, resetbot's background worker is stopped (SIGSTOP) while the body runs
        and continued after: jobs queue up meanwhile, so what is measured is the acknowledging
        process alone, without the work each command sets off on the same cores."""
        assert self.proc is not None
        web = set(children(self.proc.pid))
        held = [pid for pid in self.workers() if pid not in web] if hold else []
        for pid in held:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in held:
                os.kill(pid, signal.SIGCONT)

    def log_problems(self, lines: int = 40) -> str:
        """The last warnings and errors in the server's log, tracebacks whole (the log itself is
        kept when the run fails)."""
        log = self.workdir / f"{self.name.replace(' ', '-')}.log"
        try:
            text = log.read_text(errors="replace").splitlines()
        except OSError:
            return f"(no log at {log})"
        found: list[str] = []
        in_traceback = False
        for line in text:
            if " WARNING " in line or " ERROR " in line or line.startswith("Traceback"):
                found.append(line)
                in_traceback = line.startswith("Traceback")
            elif in_traceback and line.strip():
                found.append(line)  # the traceback's frames and its exception line
                in_traceback = line.startswith((" ", "\t", "Traceback", "During", "The above"))
            else:
                in_traceback = False
        return "\n".join([f"last warnings and errors in {log}:", *found[-lines:]])

    def note_memory(self) -> None:
        self.memory.append((self.sent, self.rss()))


class LoadDriver:
    """The load driver's process (``load.py --serve``), started once for the whole run: each
    row's requests go out from there, so its threads never share a GIL with what they measure.
    It exits when its stdin closes, also when this process is killed outright."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 -- our interpreter, our script
            [PYTHON, str(HERE / "load.py"), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, spec: Path, timeout: float = 600.0) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{spec}\n")
        self.proc.stdin.flush()
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                raise TimeoutError(f"the load driver did not answer within {timeout:g} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the load driver exited with {self.proc.wait()}")
        result: dict[str, Any] = json.loads(line)
        return result

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


DRIVER: list[LoadDriver] = []  # started by the first drive(), closed by main()


def drive(server: Server, bodies: list[str], concurrency: int, workdir: Path) -> dict[str, Any]:
    """Send ``bodies`` from the load-driver process; latencies in seconds."""
    spec = workdir / "load.json"
    spec.write_text(
        json.dumps(
            {
                "url": server.url + "/slack/events",
                "secret": SIGNING_SECRET,
                "concurrency": concurrency,
                "bodies": bodies,
            }
        )
    )
    if not DRIVER:
        DRIVER.append(LoadDriver())
    result = DRIVER[0].run(spec)
    server.sent += len(bodies)
    # Anything but 200 is what Slack would show as an error (Bolt answers 404 when a listener
    # did not ack within its 3 s): counted and shown in the table, never hidden.
    result["failed"] = {k: v for k, v in result["statuses"].items() if k != "200"}
    return result


def pooled(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of one row as one: latencies pooled, time and failures summed."""
    statuses: dict[str, int] = {}
    for r in results:
        for code, n in r["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    return {
        "latencies": [x for r in results for x in r["latencies"]],
        "statuses": statuses,
        "elapsed": sum(r["elapsed"] for r in results),
        "failed": {k: v for k, v in statuses.items() if k != "200"},
    }


@dataclass
class Row:
    target: str
    command: str
    concurrency: int
    requests: int
    p50: float
    p99: float
    max: float
    rps: float
    note: str = ""
    cpu_ms: float = float("nan")  # server CPU per request, background work included
    web_cpu_ms: float = float("nan")  # of which in the process that acknowledges
    standin_cpu_ms: float = float("nan")  # this process: the Slack stand-in and the sandbox
    bare_p99: float = float("nan")  # bare Bolt's p99 sampled just before each round of this row

    @classmethod
    def of(
        cls, target: str, command: str, concurrency: int, result: dict[str, Any], note: str = ""
    ) -> Row:
        lat = [x * 1000 for x in result["latencies"]]
        failed = result.get("failed") or {}
        if failed:
            note = "; ".join(
                [
                    *([note] if note else []),
                    "NOT 200: " + ", ".join(f"{n} x {code}" for code, n in sorted(failed.items())),
                ]
            )
        return cls(
            target,
            command,
            concurrency,
            len(lat),
            statistics.median(lat),
            percentile(lat, 99),
            max(lat),
            len(lat) / result["elapsed"],
            note,
        )


# Resetbot


def resetbot_config(world: World, workdir: Path, url: str) -> Path:
    provider = {
        **world.sandbox.settings_dict(),
        "approvals_channel": APPROVALS,
        "max_retries": 1,
        "timeout_seconds": 10,
    }
    lines = [
        f"database_url = {toml_value(url)}",
        f"admins = {toml_value([ADMIN])}",
        "request_ttl_minutes = 10080",
        "max_pending_per_requester = 1000",
        "max_pending_per_target = 100",
        'log_level = "INFO"',
        f"background = {toml_value(BACKGROUND[0])}",
        "",
        "[slack]",
        f"api_url = {toml_value(world.standin.api_url)}",
        f"bot_token = {toml_value(world.standin.bot_token)}",
        f"signing_secret = {toml_value(SIGNING_SECRET)}",
        "",
        f"[providers.{PROVIDER}]",
        *(f"{k} = {toml_value(v)}" for k, v in provider.items()),
    ]
    path = workdir / "resetbot.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


# gunicorn's processes and threads, the same for every server (serve_http's defaults: 1 and 16)
STACK = {"WEB_CONCURRENCY": "1", "RESETBOT_THREADS": "16"}


def clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RESETBOT_", "SLACK_", "WEB_CONCURRENCY", "PORT"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    return {**env, **STACK}


def resetbot_server(world: World, workdir: Path, backend: str, url: str) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    config = resetbot_config(world, workdir, url)
    upgrade(url)
    store = Store(url)
    with store.session() as s:
        for uid in REQUESTERS:
            roles.grant(s, ADMIN, uid, Role.REQUESTER, None)
        roles.grant(s, ADMIN, APPROVER, Role.APPROVER, None)
    resetbot = str(Path(PYTHON).with_name("resetbot"))
    argv = [resetbot, "serve"] if Path(resetbot).exists() else [PYTHON, "-m", "bot", "serve"]
    before = world.calls("response_url")
    return Server(
        f"resetbot {backend}",
        argv,
        {**clean_env(), "RESETBOT_CONFIG": str(config)},
        workdir,
        store=store,
        answers=lambda: world.calls("response_url") - before,
    )


def bare_server(world: World, workdir: Path, *, like_resetbot: bool) -> Server:
    """The bare Bolt app; ``like_resetbot``: with Bolt configured as resetbot configures it
    (``process_before_response``), the floor every ratio is taken against."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **clean_env(),
        "SLACK_BOT_TOKEN": world.standin.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": world.standin.api_url,
        "PYTHONPATH": str(ROOT),
        "BARE_BOLT_PROCESS_BEFORE_RESPONSE": "1" if like_resetbot else "0",
    }
    name = "bare Bolt" if like_resetbot else "bare Bolt, Bolt's defaults"
    return Server(name, [PYTHON, "-m", "tests.benchmarks.bare_bolt"], env, workdir)


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh database, dropped afterwards; None if PostgreSQL is unreachable."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"resetbot_bench_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # reported; the PostgreSQL rows are left out
        print(
            f"PostgreSQL unavailable ({type(exc).__name__}); its rows are left out", file=sys.stderr
        )
        admin.dispose()
        yield None
        return
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def send_files(
    world: World, server: Server, n: int, concurrency: int, workdir: Path
) -> dict[str, Any]:
    result = drive(server, world.file_bodies(n, start=server.sent), concurrency, workdir)
    server.filed += n
    server.answers_due += n
    return result


def send_status(
    world: World, server: Server, n: int, concurrency: int, workdir: Path
) -> dict[str, Any]:
    result = drive(server, world.status_bodies(n), concurrency, workdir)
    server.answers_due += n
    return result


def posted(store: Store) -> int:
    from sqlalchemy import func, select

    with store.reading() as s:
        return int(s.scalar(select(func.count()).where(ResetRequest.approval_ts.is_not(None))) or 0)


def drain(server: Server, timeout: float = 180.0) -> None:
    """Wait until every request filed so far has its approval message and every command its
    answer that replaces "Looking up…": the background work is done, so what comes next is
    measured on its own (its CPU figure included)."""
    assert server.store is not None and server.answers is not None
    store, answers = server.store, server.answers
    try:
        wait_for(
            lambda: posted(store) >= server.filed and answers() >= server.answers_due,
            timeout,
            f"{server.filed} approval messages and {server.answers_due} answers from {server.name}",
        )
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}; {posted(store)} approval messages and {answers()} answers "
            f"are in\n{server.log_problems()}"
        ) from None


def count(store: Store, *states: RequestState) -> int:
    from sqlalchemy import func, select

    with store.reading() as s:
        return int(s.scalar(select(func.count()).where(ResetRequest.state.in_(states))) or 0)


def at_most(store: Store, state: RequestState, n: int) -> bool:
    return count(store, state) <= n


def finished(store: Store, goal: int) -> bool:
    return count(store, *FINAL_STATES) >= goal


def pending_posted(store: Store) -> list[str]:
    from sqlalchemy import select

    with store.reading() as s:
        return list(
            s.scalars(
                select(ResetRequest.id).where(
                    ResetRequest.state == RequestState.PENDING,
                    ResetRequest.approval_ts.is_not(None),
                )
            )
        )


def file_and_wait(
    world: World, server: Server, n: int, workdir: Path, concurrency: int = 16
) -> list[str]:
    """File ``n`` requests over HTTP; the ids of every posted, pending one afterwards."""
    assert server.store is not None
    send_files(world, server, n, concurrency, workdir)
    drain(server)
    return pending_posted(server.store)


def measure_resetbot(
    world: World,
    server: Server,
    bare: Server,
    plan: Plan,
    workdir: Path,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Every figure for one resetbot backend (the server is started here and stopped);
    ``bare``, running, gives each latency row its paired baseline."""
    assert server.store is not None
    out: dict[str, Any] = {"rows": [], "slow_rows": []}
    for _ in range(plan.startups - 1):
        progress(f"{server.name}: start-up {server.start():.2f}s")
        server.stop()
    progress(f"{server.name}: start-up {server.start():.2f}s")
    time.sleep(0.5)
    server.note_memory()  # idle

    progress(f"{server.name}: warm-up ({plan.warmup} requests)")
    half = plan.warmup // 2
    send_files(world, server, half, 16, workdir)
    send_status(world, server, plan.warmup - half, 16, workdir)
    drain(server)
    server.note_memory()  # after warm-up
    out["warm_index"] = len(server.memory) - 1

    # Each row is paired with bare Bolt: before each round of it, the same number of requests
    # at the same concurrency to the bare app (idle meanwhile), so both see the machine as it
    # is at that moment; the ratio is taken between the pooled rounds.
    for concurrency, n in plan.levels:
        for command in ("file", "status", "help"):
            runs, bare_runs, cpu_s, web_s, own_s = [], [], 0.0, 0.0, 0.0
            for _ in range(plan.rounds):
                bare_runs.append(drive(bare, world.help_bodies(n), concurrency, workdir))
                cpu, web, own = server.cpu(), server.web_cpu(), standins_cpu()
                send = {"file": send_files, "status": send_status}.get(command)
                with server.background_held(PAUSE_BACKGROUND[0]):
                    runs.append(
                        send(world, server, n, concurrency, workdir)
                        if send is not None
                        else drive(server, world.help_bodies(n), concurrency, workdir)
                    )
                drain(server)
                cpu_s += server.cpu() - cpu
                web_s += server.web_cpu() - web
                own_s += standins_cpu() - own
            row = Row.of(server.name, command, concurrency, pooled(runs))
            row.bare_p99 = Row.of("", "", concurrency, pooled(bare_runs)).p99
            row.cpu_ms = cpu_s * 1000 / (n * plan.rounds)
            row.web_cpu_ms = web_s * 1000 / (n * plan.rounds)
            row.standin_cpu_ms = max(0.0, own_s) * 1000 / (n * plan.rounds)
            out["rows"].append(row)
            progress(
                f"{server.name}: {command} x{concurrency}: p50 {row.p50:.1f} ms, "
                f"p99 {row.p99:.1f} ms (bare Bolt {row.bare_p99:.1f}), max {row.max:.1f} ms, "
                f"{row.cpu_ms:.2f} ms CPU ({row.web_cpu_ms:.2f} acknowledging), stand-ins "
                f"{row.standin_cpu_ms:.2f} ms"
            )

    # Acknowledgements while approved requests are dispatched to a slow provider (2 s a call in
    # a full run): for each level, a fresh batch is filed and approved over HTTP, then measured
    # at once.
    world.sandbox.set_latency("action", plan.slow_seconds)
    out["slow_latency"] = plan.slow_seconds
    try:
        out["slow_seconds"] = []
        for concurrency, n in plan.levels:
            before = set(pending_posted(server.store))
            ids = [
                i
                for i in file_and_wait(world, server, plan.slow_requests, workdir)
                if i not in before
            ]
            done_before = count(server.store, *FINAL_STATES)
            pending_before = count(server.store, RequestState.PENDING)
            bare_sample = drive(bare, world.help_bodies(n), concurrency, workdir)
            began = time.perf_counter()
            approvals = drive(server, [world.approval(i) for i in ids], 16, workdir)
            out["approval_row"] = Row.of(server.name, "approve (modal submit)", 16, approvals)
            # The decisions are recorded in the background: measure once all are.
            wait_for(
                partial(at_most, server.store, RequestState.PENDING, pending_before - len(ids)),
                60,
                "the approvals to be recorded",
            )
            in_flight = count(server.store, RequestState.APPROVED, RequestState.DISPATCHING)
            result = send_files(world, server, n, concurrency, workdir)
            left = count(server.store, RequestState.APPROVED, RequestState.DISPATCHING)
            row = Row.of(
                server.name,
                f"file, {plan.slow_seconds:g} s provider",
                concurrency,
                result,
                note=f"{in_flight}→{left} dispatches in flight",
            )
            row.bare_p99 = Row.of("", "", concurrency, bare_sample).p99
            out["slow_rows"].append(row)
            progress(
                f"{server.name}: slow x{concurrency}: p50 {row.p50:.1f} ms, "
                f"p99 {row.p99:.1f} ms ({row.note})"
            )
            wait_for(
                partial(finished, server.store, done_before + len(ids)),
                len(ids) * plan.slow_seconds + 120,
                "the slow dispatches",
            )
            out["slow_seconds"].append(time.perf_counter() - began)
            out["slow_requests"] = len(ids)
            drain(server)
        out["slow_dispatch_seconds"] = statistics.median(out["slow_seconds"])
    finally:
        world.sandbox.set_latency("action", 0.0)

    # End-to-end throughput with fast providers: command -> look-up -> approval message ->
    # approval -> provider call -> outcome in the thread.
    progress(f"{server.name}: end-to-end throughput ({plan.throughput_requests} requests)")
    before = set(pending_posted(server.store))
    began = time.perf_counter()
    ids = [
        i
        for i in file_and_wait(world, server, plan.throughput_requests, workdir)
        if i not in before
    ]
    filed = time.perf_counter()
    mark = world.standin.mark()
    drive(server, [world.approval(i) for i in ids], 16, workdir)

    def outcomes() -> bool:
        # per request: "approved" in the thread, then the outcome in the thread
        return world.calls("chat.postMessage", mark, thread_ts=True) >= 2 * len(ids)

    wait_for(outcomes, 300, "the outcomes in the threads")
    ended = time.perf_counter()
    out["throughput"] = {
        "requests": len(ids),
        "seconds": ended - began,
        "rps": len(ids) / (ended - began),
        "file_seconds": filed - began,
        "approve_to_outcome_seconds": ended - filed,
    }
    server.note_memory()

    # Memory: after every phase above (the 64-sender bursts and the slow dispatches set the
    # high-water mark of threads and connections), plan.memory_total more requests, the
    # steady state (half filings, half status), RSS noted every 1,000.
    out["steady_index"] = len(server.memory) - 1
    goal = server.sent + plan.memory_total
    while server.sent < goal:
        n = min(1000, goal - server.sent)
        half = n // 2
        send_files(world, server, half, 16, workdir)
        send_status(world, server, n - half, 16, workdir)
        drain(server)
        server.note_memory()
        progress(f"{server.name}: {server.sent} requests, worker RSS {server.memory[-1][1]:.1f} MB")
    server.stop()
    return out


@contextlib.contextmanager
def busy_cores(nice: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """A busy loop per core, at ``nice``, for as long as the block runs: the floor an ack
    meets when background work keeps every core busy, whoever's it is. Each loop checks
    about every 20 ms that this process still runs, so a benchmark killed outright leaves no
    loop spinning."""
    code = (
        f"import os\nos.nice({nice})\nparent = {os.getpid()}\n"
        "while os.getppid() == parent:\n    for _ in range(1_000_000): pass\n"
    )
    loops: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(os.cpu_count() or 1):
            loops.append(subprocess.Popen([PYTHON, "-c", code]))  # noqa: S603 -- our interpreter
        wait_for(
            lambda: all(os.getpriority(os.PRIO_PROCESS, p.pid) == nice for p in loops),
            10,
            "the busy loops to start",
        )
        time.sleep(0.1)  # spinning, past the interpreter's start-up
        yield loops
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def measure_bare(
    server: Server,
    world: World,
    plan: Plan,
    workdir: Path,
    progress: Callable[[str], None],
    *,
    busy_nice: int | None = None,
) -> list[Row]:
    """Bare Bolt's rows; ``busy_nice``: with a busy loop per core at that nice while each
    row is sent (reported under the server's name plus that, start-ups not reported)."""
    startups = plan.startups if busy_nice is None else 1
    for _ in range(startups - 1):
        progress(f"{server.name}: start-up {server.start():.2f}s")
        server.stop()
    progress(f"{server.name}: start-up {server.start():.2f}s")
    name = server.name + ("" if busy_nice is None else f", every core busy (nice {busy_nice})")
    rows = []
    try:
        drive(server, world.file_bodies(plan.warmup // 2), 16, workdir)
        for concurrency, n in plan.levels:
            with busy_cores(busy_nice) if busy_nice is not None else contextlib.nullcontext():
                cpu = server.cpu()
                result = drive(server, world.file_bodies(n), concurrency, workdir)
                cpu = server.cpu() - cpu
            row = Row.of(name, "ack only", concurrency, result)
            row.cpu_ms = row.web_cpu_ms = cpu * 1000 / n
            rows.append(row)
            progress(
                f"{name}: x{concurrency}: p50 {row.p50:.1f} ms, p99 {row.p99:.1f} ms,"
                f" max {row.max:.1f} ms"
            )
    finally:
        server.stop()
    return rows


# The report


def render(
    info: dict[str, str],
    command: str,
    load_before: str,
    bare: list[Row],
    results: dict[str, dict[str, Any]],
    servers: dict[str, Server],
    elapsed: float,
    reference: Sequence[Row] = (),
) -> str:
    base = {r.concurrency: r for r in bare}
    lines = [
        "## Acknowledgement latency (signed HTTP requests to `POST /slack/events`)",
        "",
        "| server | command | senders | requests | p50 ms | p99 ms | max ms | req/s "
        "| p99 ÷ bare Bolt's p99 (paired) | server CPU ms/request | of which acknowledging "
        "| stand-ins' CPU ms/request | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]

    def ms(value: float) -> str:
        return "" if value != value else f"{value:.2f}"

    def line(row: Row, ratio: str = "") -> None:
        lines.append(
            f"| {row.target} | {row.command} | {row.concurrency} | {row.requests} "
            f"| {row.p50:.1f} | {row.p99:.1f} | {row.max:.1f} | {row.rps:.0f} "
            f"| {ratio} | {ms(row.cpu_ms)} | {ms(row.web_cpu_ms)} "
            f"| {ms(row.standin_cpu_ms)} | {row.note} |"
        )

    def add(row: Row) -> None:
        b = base.get(row.concurrency)
        if row.bare_p99 == row.bare_p99:  # paired with its own bare Bolt samples
            ratio = f"{row.p99 / row.bare_p99:.2f}x (of {row.bare_p99:.1f})"
        else:
            ratio = f"{row.p99 / b.p99:.2f}x" if b and row is not b else "1"
        line(row, ratio)

    for row in bare:
        add(row)
    for row in reference:  # for context (no ratio): Bolt's defaults, bare Bolt under load
        line(row)
    for res in results.values():
        for row in res["rows"]:
            add(row)
    for res in results.values():
        for row in res["slow_rows"]:
            add(row)
        if "approval_row" in res:
            line(res["approval_row"])  # no bare counterpart, no CPU figures
    lines += [
        "",
        "## End-to-end, memory, start-up",
        "",
        "| server | end-to-end (command → outcome in thread) | worker RSS idle | after warm-up "
        "| after N requests | growth per 1,000 after warm-up | growth per 1,000, last stretch "
        "| start-up to healthy |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, server in servers.items():
        startup = (
            f"{statistics.median(server.startups):.2f} s median, "
            f"{max(server.startups):.2f} s max ({len(server.startups)} starts)"
        )
        found = results.get(name)
        if found is None:
            lines.append(f"| {name} | — | | | | | | {startup} |")
            continue
        res = found
        t = res["throughput"]
        mem = server.memory
        warm_n, warm = mem[res["warm_index"]]
        end_n, end = mem[-1]
        per_k = (end - warm) / max(1e-9, (end_n - warm_n) / 1000)
        steady_n, steady = mem[res["steady_index"]]
        last_k = (end - steady) / max(1e-9, (end_n - steady_n) / 1000)
        lines.append(
            f"| {name} | {t['rps']:.1f} req/s ({t['requests']} in {t['seconds']:.1f} s; "
            f"{res['slow_requests']} dispatches at {res['slow_latency']:g} s: "
            f"{res['slow_dispatch_seconds']:.1f} s) "
            f"| {mem[0][1]:.1f} MB | {warm:.1f} MB ({warm_n}) "
            f"| {end:.1f} MB ({end_n}) | {per_k:+.2f} MB | {last_k:+.2f} MB ({steady_n}→{end_n}) "
            f"| {startup} |"
        )
    held = " (held while each file/status/help row is sent)" if PAUSE_BACKGROUND[0] else ""
    lines += [
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        f"Command: `{command}`; gunicorn gthread "
        f"(WEB_CONCURRENCY={STACK['WEB_CONCURRENCY']}, "
        f"RESETBOT_THREADS={STACK['RESETBOT_THREADS']}) for every server, resetbot with "
        f'`background = "{BACKGROUND[0]}"`{held}; '
        f"run took {elapsed:.0f} s; load average (1 min) {load_before} before, "
        f"{os.getloadavg()[0]:.2f} after (other work on the machine shares its 2 cores).",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_true", help="every phase with few requests (about 20 s)"
    )
    size.add_argument(
        "--smoke",
        action="store_true",
        help="one and 64 senders, the fewest requests that produce every kind of row, "
        "a 0.2 s provider (about 10 s; for the test suite, figures meaningless)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=HERE / "results.md",
        help="where to write the table (default: %(default)s)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="WEB_CONCURRENCY for every server (SQLite wants 1: one process)",
    )
    parser.add_argument("--threads", type=int, default=16, help="RESETBOT_THREADS for every server")
    parser.add_argument(
        "--background",
        choices=("process", "thread"),
        default="process",
        help="resetbot's `background` setting (default: %(default)s)",
    )
    parser.add_argument(
        "--pause-background",
        action="store_true",
        help="an ablation: hold resetbot's background worker (SIGSTOP) while "
        "each file/status/help row is sent, so the row measures the "
        "acknowledging process alone; its jobs run once the row is sent "
        "(the slow-provider rows are not held)",
    )
    parser.add_argument(
        "--standins-nice",
        type=int,
        default=0,
        metavar="N",
        help="an ablation: run the Slack stand-in's and the provider sandbox's "
        "threads at nice N, as if they were on other machines as in "
        "production (default: %(default)s, the servers' own priority)",
    )
    args = parser.parse_args(argv)
    if args.pause_background and args.background != "process":
        parser.error("--pause-background needs --background process")
    BACKGROUND[0] = args.background
    PAUSE_BACKGROUND[0] = args.pause_background
    plan = Plan.smoke() if args.smoke else Plan.quick() if args.quick else Plan.full()
    STACK.update(WEB_CONCURRENCY=str(args.workers), RESETBOT_THREADS=str(args.threads))
    command = " ".join(
        ["python -m tests.benchmarks", *(argv if argv is not None else sys.argv[1:])]
    )
    began = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    # Stop cleanly (servers stopped, PostgreSQL database dropped) on Ctrl-C or a TERM, also
    # when started in the background, where a shell leaves SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    info = machine_info()
    load_before = f"{os.getloadavg()[0]:.2f}"
    world = World.start()
    if args.standins_nice:
        world.renice(args.standins_nice)
    results: dict[str, dict[str, Any]] = {}
    servers: dict[str, Server] = {}
    # The servers' logs live here: kept, and the path printed, when the run fails.
    work = Path(tempfile.mkdtemp(prefix="resetbot-bench-"))
    try:
        bare = bare_server(world, work / "bare", like_resetbot=True)
        servers[bare.name] = bare
        bare_rows = measure_bare(bare, world, plan, work, progress)
        default = bare_server(world, work / "bare-default", like_resetbot=False)
        servers[default.name] = default
        default_rows = measure_bare(default, world, plan, work, progress)
        # The floor under load: bare Bolt while a busy loop per core runs at the worker's
        # nice, as resetbot's acks meet its background work (and the stand-ins) here.
        busy_rows = measure_bare(bare, world, plan, work, progress, busy_nice=WORKER_NICE)
        bare.startups.pop()
        bare.start()  # idle but up: each resetbot row samples it just before (paired)
        bare.startups.pop()

        if not args.no_sqlite:
            sqlite = resetbot_server(
                world, work / "sqlite", "SQLite", f"sqlite:///{work / 'sqlite' / 'resetbot.db'}"
            )
            servers[sqlite.name] = sqlite
            try:
                results[sqlite.name] = measure_resetbot(world, sqlite, bare, plan, work, progress)
            finally:
                sqlite.stop()
                assert sqlite.store is not None
                sqlite.store.dispose()

        with postgres_database() if not args.no_postgres else contextlib.nullcontext() as pg:
            if pg:
                server = resetbot_server(world, work / "pg", "PostgreSQL", pg)
                servers[server.name] = server
                try:
                    results[server.name] = measure_resetbot(
                        world, server, bare, plan, work, progress
                    )
                finally:
                    server.stop()
                    assert server.store is not None
                    server.store.dispose()
    except BaseException:
        print(f"benchmark failed; the servers' logs are kept in {work}", file=sys.stderr)
        raise
    else:
        shutil.rmtree(work, ignore_errors=True)
    finally:
        for server in servers.values():
            server.stop()
        world.stop()
        while DRIVER:
            DRIVER.pop().close()
    table = render(
        info,
        command,
        load_before,
        bare_rows,
        results,
        servers,
        time.perf_counter() - began,
        reference=[*default_rows, *busy_rows],
    )
    print(table)
    args.output.write_text(f"# resetbot benchmarks\n\n{table}")
    return 0
