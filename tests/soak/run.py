"""The soak run: thousands of requests through the whole life-cycle against ``resetbot serve``
while faults are injected at random, then the invariant checker over everything recorded.

``python -m tests.soak`` (``--help`` for sizes and backends). Exit status 1 on any violation;
the servers' logs and the report are kept and their directory printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bot.demo.rig import SIGNING_SECRET, SUPPORT, free_port, wait_for, write_config
from bot.demo.sandboxes import Sandbox, start_sandbox
from bot.demo.standin import Message, ModalView, SlackDriver, SlackStandIn
from bot.domain import roles
from bot.slack import blocks
from bot.store.db import Store
from bot.store.migrate import upgrade
from bot.store.models import Role
from tests.benchmarks.run import PYTHON, children, clean_env, postgres_database
from tests.soak.checker import Report, check
from tests.soak.slack_proxy import SlackProxy

ADMIN = "U0ADA"
APPROVALS = "C0APPROVALS"
SECURITY = "C0SECURITY"
OWNER = "U0VIC"
OWNER_EMAIL = "vic@example.com"
REQUESTERS = [f"U0SREQ{i:02d}" for i in range(32)]
APPROVERS = [f"U0SAPP{i}" for i in range(6)]
TARGETS = 200
# Provider instances: quorum 1, quorum 2, and one whose reset hands back a secret (a link).
INSTANCES = {"community": "mighty_networks", "gateway": "tyk", "flags": "unleash"}
QUORUM = {"community": 1, "gateway": 2, "flags": 1}
# What each request is taken through, and how often.
SCRIPTS = {
    "approve": 30,
    "quorum": 10,
    "secret": 10,
    "deny": 12,
    "cancel": 10,
    "leave": 8,  # nobody decides: it expires (or is still pending when the run is short)
    "owner_yes": 10,
    "owner_no": 6,
    "approve_again": 4,  # a second approval after the decision: refused, nothing changes
}


@dataclass
class Plan:
    requests: int
    senders: int
    backend: str  # "sqlite" or "postgres"
    replicas: int
    slack_fault_rate: float
    provider_fault_every: int  # one provider fault per this many requests
    worker_kills: int
    restarts: int
    ttl_minutes: int
    seed: int = 1


SIZES = {
    "full": dict(requests=10_000, senders=24, worker_kills=4, restarts=3, ttl_minutes=2),
    "short": dict(requests=300, senders=12, worker_kills=1, restarts=1, ttl_minutes=60),
}


@dataclass
class Replica:
    name: str
    argv: list[str]
    env: dict[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own console script
                self.argv,
                env={**self.env, "PORT": str(self.port)},
                cwd=self.workdir,
                stdout=log,
                stderr=log,
            )
        wait_for(self.healthy, 60, f"{self.name} to answer /healthz", poll=0.05)

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log}")
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:  # noqa: S310
                return bool(r.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def background_worker(self) -> int | None:
        """resetbot's background worker: a child of gunicorn's worker."""
        if self.proc is None:
            return None
        for web in children(self.proc.pid):
            with contextlib.suppress(OSError):
                kids = children(web)
                if kids:
                    return kids[0]
        return None


class Soak:
    def __init__(self, plan: Plan, workdir: Path, database_url: str) -> None:
        self.plan = plan
        self.workdir = workdir
        self.random = random.Random(plan.seed)
        self.lock = threading.Lock()
        self.faults: Counter[str] = Counter()
        self.restarts = 0
        self.scripts: Counter[str] = Counter()
        self.trouble: list[str] = []
        self.standin = SlackStandIn().start()
        self.proxy = SlackProxy(
            self.standin.api_url, rate=plan.slack_fault_rate, seed=plan.seed
        ).start()
        self.standin.add_channel(SUPPORT, "it-support")
        self.standin.add_channel(APPROVALS, "reset-approvals")
        self.standin.add_channel(SECURITY, "security")
        for uid in [ADMIN, *REQUESTERS, *APPROVERS]:
            self.standin.add_user(uid, uid.lower(), real_name=uid)
        self.standin.add_user(OWNER, "vic", real_name="Vic Vance", email=OWNER_EMAIL)
        self.sandboxes: dict[str, Sandbox] = {}
        self.emails = [f"user{i:03d}@example.com" for i in range(TARGETS)]
        for name, kind in INSTANCES.items():
            sandbox = start_sandbox(kind)
            prepare_sandbox(name, sandbox)
            for i, email in enumerate(self.emails):
                sandbox.add_user(email=email, name=f"User {i:03d}")
            sandbox.add_user(email=OWNER_EMAIL, name="Vic Vance")
            self.sandboxes[name] = sandbox
        self.database_url = database_url
        config = self.config()
        upgrade(database_url)
        self.store = Store(database_url)
        with self.store.session() as tx:
            for uid in REQUESTERS:
                roles.grant(tx, ADMIN, uid, Role.REQUESTER, None)
            for uid in APPROVERS:
                roles.grant(tx, ADMIN, uid, Role.APPROVER, None)
        resetbot = str(Path(PYTHON).with_name("resetbot"))
        argv = [resetbot, "serve"] if Path(resetbot).exists() else [PYTHON, "-m", "bot", "serve"]
        env = {**clean_env(), "RESETBOT_CONFIG": str(config)}
        self.replicas = [Replica(f"replica{i}", argv, env, workdir) for i in range(plan.replicas)]
        self.drivers: dict[str, SlackDriver] = {}

    def config(self) -> Path:
        providers = {}
        for name, sandbox in self.sandboxes.items():
            providers[name] = {
                **sandbox.settings_dict(),
                "approvals_channel": APPROVALS,
                "approvals_required": QUORUM[name],
                "max_retries": 1,
                "timeout_seconds": 5,
            }
        return write_config(
            self.workdir / "resetbot.toml",
            {
                "database_url": self.database_url,
                "admins": [ADMIN],
                "security_channel": SECURITY,
                "request_ttl_minutes": self.plan.ttl_minutes,
                "max_pending_per_requester": 1000,
                "max_pending_per_target": 100,
                "sweep_interval_seconds": 2,
                "dispatch_lease_seconds": 6,
                "log_level": "INFO",
                "background": "process",
                "slack": {
                    "api_url": self.proxy.api_url,
                    "bot_token": self.standin.bot_token,
                    "signing_secret": SIGNING_SECRET,
                },
                "providers": providers,
            },
        )

    def driver(self) -> SlackDriver:
        """A driver for a replica that is up (any one of them, at random)."""
        while True:
            up = [r for r in self.replicas if r.proc is not None]
            if up:
                replica = self.random.choice(up)
                with self.lock:
                    if replica.name not in self.drivers:
                        self.drivers[replica.name] = SlackDriver(
                            self.standin, replica.url + "/slack/events", SIGNING_SECRET
                        )
                    return self.drivers[replica.name]
            time.sleep(0.1)

    def deliver(self, send: Callable[..., Any], *args: Any) -> Any:
        """Send through some replica; a replica that is restarting is skipped, as Slack's load
        balancer would."""
        for _ in range(40):
            try:
                return send(self.driver(), *args)
            except httpx.TransportError:
                time.sleep(0.25)
        raise RuntimeError("no replica took the request")

    # One request, start to end.

    def run_one(self, i: int) -> None:
        with self.lock:
            script = self.random.choices(list(SCRIPTS), list(SCRIPTS.values()))[0]
            requester = self.random.choice(REQUESTERS)
            approvers = self.random.sample(APPROVERS, 2)
        self.scripts[script] += 1
        provider = {"quorum": "gateway", "secret": "flags"}.get(script, "community")
        target = OWNER_EMAIL if script.startswith("owner") else self.emails[i % TARGETS]
        mark = f"ticket-S{i:05d}-end"
        before = len(self.standin.messages(APPROVALS))
        self.deliver(SlackDriver.command, requester, f"{provider} {target} {mark}")
        message = self.approval_message(mark, before)
        if message is None:
            return  # not filed (an answer says why) or filed and abandoned: the checker looks
        rid = message_request_id(message)
        if script == "leave":
            return
        if script == "cancel":
            self.deliver(SlackDriver.command, requester, f"cancel {rid}")
            return
        if script.startswith("owner"):
            answer = blocks.CONFIRM_ACTION if script == "owner_yes" else blocks.REJECT_ACTION
            dm = self.wait_slack(lambda: owner_dm(self.standin, rid, answer), 30)
            if dm is None:
                return
            self.deliver(SlackDriver.click, OWNER, dm, answer)
            if script == "owner_no":
                return
        if script == "deny":
            self.decide(approvers[0], rid, message, blocks.DENY_ACTION, {"reason": "not this one"})
            return
        for approver in approvers[: QUORUM[provider]]:
            self.decide(approver, rid, message, blocks.APPROVE_ACTION, {})
        if script == "approve_again":
            # A late click from a client that still shows the buttons: refused, nothing changes.
            self.deliver(
                partial(SlackDriver.click, allow_stale=True),
                approvers[1],
                message,
                blocks.APPROVE_ACTION,
            )

    def approval_message(self, mark: str, before: int) -> Message | None:
        def found() -> Message | None:
            for m in self.standin.messages(APPROVALS)[before:]:
                if mark in m.all_text():
                    return m
            return None

        message: Message | None = self.wait_slack(found, 60)
        return message

    def decide(
        self, user: str, rid: str, message: Message, action: str, values: dict[str, str]
    ) -> None:
        """Click; fill in and submit the modal it opens (tried again if none opened)."""
        for _ in range(3):
            current = self.standin.message(message.channel, message.ts) or message
            if not any(e.get("action_id") == action for _, e in current.elements()):
                return  # decided meanwhile: no buttons any more
            mark = len(self.standin.views_for(user))
            # The message may change between the look and the click (another approver, expiry):
            # the click is then a late one, as from a client that has not refreshed yet.
            self.deliver(partial(SlackDriver.click, allow_stale=True), user, current, action)
            modal = self.wait_slack(partial(new_view, self.standin, user, rid, mark), 5)
            if modal:
                self.deliver(SlackDriver.submit_view, user, modal, values)
                return

    @staticmethod
    def wait_slack(condition: Callable[[], Any], timeout: float) -> Any:
        try:
            return wait_for(condition, timeout, poll=0.05)
        except AssertionError:
            return None

    # Faults beside Slack's (the proxy's): provider faults, killed workers, restarts.

    def chaos(self, stop: threading.Event, progress: Callable[[], int]) -> None:
        plan = self.plan
        kills = sorted(self.random.sample(range(5, 95), plan.worker_kills))
        restarts = sorted(self.random.sample(range(10, 90), plan.restarts))
        next_fault = plan.provider_fault_every
        while not stop.wait(0.2):
            done = progress()
            percent = 100 * done // max(plan.requests, 1)
            if done >= next_fault:
                next_fault += plan.provider_fault_every
                self.provider_fault()
            if kills and percent >= kills[0]:
                kills.pop(0)
                self.kill_worker()
            if restarts and percent >= restarts[0]:
                restarts.pop(0)
                self.restart_replica()

    def provider_fault(self) -> None:
        with self.lock:
            name = self.random.choice(list(self.sandboxes))
            step = self.random.choice(["action", "action", "lookup"])
            kind = self.random.choice(["500", "503", "timeout", "reset", "slow"])
        sandbox = self.sandboxes[name]
        if kind == "slow":
            sandbox.set_latency(step, 2.0)
            threading.Timer(5, sandbox.set_latency, (step, 0.0)).start()
        elif kind in ("timeout", "reset"):
            sandbox.inject(step, fault=kind)  # type: ignore[arg-type]
        else:
            sandbox.inject(step, status=int(kind))
        self.faults[f"provider {kind}"] += 1

    def kill_worker(self) -> None:
        with self.lock:
            replica = self.random.choice([r for r in self.replicas if r.proc is not None])
        pid = replica.background_worker()
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                self.faults["worker killed"] += 1

    def restart_replica(self) -> None:
        replica = self.random.choice(self.replicas)
        replica.stop()
        with self.lock:
            self.drivers.pop(replica.name, None)
        replica.start()
        self.restarts += 1

    def run(self, progress: Callable[[str], None]) -> Report:
        for replica in self.replicas:
            replica.start()
        done = Counter[str]()
        stop = threading.Event()
        chaos = threading.Thread(target=self.chaos, args=(stop, lambda: done["n"]), daemon=True)
        began = time.monotonic()
        chaos.start()

        def one(i: int) -> None:
            try:
                self.run_one(i)
            except Exception as exc:  # the sender's own trouble is reported, never hidden
                self.trouble.append(f"request {i}: {type(exc).__name__}: {exc}")
            with self.lock:
                done["n"] += 1
                if done["n"] % 500 == 0:
                    progress(f"{done['n']} of {self.plan.requests} requests driven")

        with ThreadPoolExecutor(self.plan.senders) as pool:
            list(pool.map(one, range(self.plan.requests)))
        stop.set()
        chaos.join()
        driven = time.monotonic() - began
        progress("waiting for the bot to finish (expiry, recovery, stale messages)")
        self.settle()
        wall = time.monotonic() - began
        report = check(self.store, self.standin, self.sandboxes, [r.log for r in self.replicas])
        report.figures.update(
            {
                "requests": self.plan.requests,
                "scripts": dict(self.scripts),
                "faults": {
                    **dict(self.faults),
                    **{f"slack {k}": v for k, v in self.proxy.faults.items()},
                },
                "restarts": self.restarts,
                "driven_seconds": round(driven, 1),
                "wall_seconds": round(wall, 1),
                "sender_trouble": dict(Counter(t.split(": ")[1] for t in self.trouble)),
            }
        )
        report.notes.extend(self.trouble[:20])
        return report

    def settle(self) -> None:
        """Faults off; wait until no request is mid-way (approved, dispatching) and, with a short
        TTL, none is pending but those the run keeps (none)."""
        self.proxy.rate = 0
        for sandbox in self.sandboxes.values():
            sandbox.clear_faults()
        from bot.store.models import RequestState
        from tests.benchmarks.run import count

        busy = (RequestState.APPROVED, RequestState.DISPATCHING)
        waiting = (*busy, RequestState.PENDING) if self.plan.ttl_minutes <= 5 else busy
        timeout = 60 + self.plan.ttl_minutes * 60
        with contextlib.suppress(AssertionError):
            wait_for(lambda: count(self.store, *waiting) == 0, timeout, poll=1)
        time.sleep(8)  # the sweeper's round after the last move brings messages up to date

    def stop(self) -> None:
        for replica in self.replicas:
            replica.stop()
        for driver in self.drivers.values():
            driver.close()
        for sandbox in self.sandboxes.values():
            sandbox.stop()
        self.proxy.stop()
        self.standin.stop()
        self.store.dispose()


def prepare_sandbox(name: str, sandbox: Sandbox) -> None:
    """Unleash limits resets per user and (from 8.x) per minute: lifted, the soak is not
    about them."""
    if hasattr(sandbox, "rate_limit_seconds"):
        sandbox.rate_limit_seconds = 0.0
    if hasattr(sandbox, "endpoint_limit"):
        sandbox.endpoint_limit = 1_000_000


def new_view(standin: SlackStandIn, user: str, rid: str, mark: int) -> ModalView | None:
    """The modal the click opened for ``rid`` (the approver may have others open)."""
    for view in standin.views_for(user)[mark:]:
        if view.open and view.current.get("private_metadata") == rid:
            return view
    return None


def owner_dm(standin: SlackStandIn, rid: str, action: str) -> Message | None:
    for message in reversed(standin.dms(OWNER)):
        if any(
            e.get("action_id") == action and e.get("value") == rid for _, e in message.elements()
        ):
            return message
    return None


def message_request_id(message: Message) -> str:
    for _, element in message.elements():
        if element.get("action_id") == blocks.APPROVE_ACTION:
            return str(element.get("value"))
    raise ValueError("an approval message without an Approve button")


@contextlib.contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'resetbot.db'}"
        return
    with postgres_database() as url:
        if url is None:
            raise RuntimeError("PostgreSQL is unreachable")
        yield url


def soak(plan: Plan, workdir: Path, progress: Callable[[str], None] = print) -> Report:
    with database(plan.backend, workdir) as url:
        run = Soak(plan, workdir, url)
        try:
            return run.run(progress)
        finally:
            run.stop()


def plan_for(size: str, backend: str, requests: int | None = None) -> Plan:
    options: dict[str, Any] = dict(SIZES[size])
    if requests is not None:
        options["requests"] = requests
    n = options["requests"]
    return Plan(
        backend=backend,
        replicas=2 if backend == "postgres" else 1,
        slack_fault_rate=0.03,
        provider_fault_every=max(10, n // 200),
        **options,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--size", choices=list(SIZES), default="full")
    parser.add_argument("--requests", type=int, help="override the size's request count")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory anyway")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    failed = False
    for backend in backends:
        plan = plan_for(args.size, backend, args.requests)
        workdir = Path(tempfile.mkdtemp(prefix=f"resetbot-soak-{backend}-"))
        print(f"soak on {backend}: {plan}", flush=True)
        report = soak(plan, workdir, lambda s: print(f"  {s}", flush=True))
        (workdir / "report.json").write_text(json.dumps(report.as_dict(), indent=2))
        print(report.summary(), flush=True)
        if report.violations or args.keep:
            failed = failed or bool(report.violations)
            print(f"logs and report kept in {workdir}", flush=True)
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
