"""The real ``resetbot serve`` (gunicorn, HTTP mode) as the Procfile runs it, in a subprocess."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.demo.rig import SUPPORT, free_port, toml_value, wait_for
from bot.demo.sandboxes import Sandbox, start_sandbox
from bot.demo.standin import SlackDriver, SlackStandIn, SocketModeDriver
from bot.store.db import Store
from bot.store.models import RequestState, ResetRequest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "serve-test-signing-secret"  # noqa: S105 - loopback only
BIN = Path(sys.executable).parent


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn() as s:
        for uid, name in (("U0ALICE", "alice"), ("U0BOB", "bob"), ("U0ADA", "ada")):
            s.add_user(uid, name)
        s.add_channel(SUPPORT, "it-support")
        yield s


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with start_sandbox("mighty_networks") as box:
        box.add_user(email="tom@example.com", name="Tom Taylor")
        yield box


@pytest.fixture
def env(tmp_path: Path, standin: SlackStandIn, sandbox: Sandbox) -> dict[str, str]:
    provider = "\n".join(f"{k} = {toml_value(v)}" for k, v in sandbox.settings_dict().items())
    config = tmp_path / "resetbot.toml"
    database = f"sqlite:///{tmp_path / 'resetbot.db'}"
    config.write_text(
        f"database_url = {toml_value(database)}\n"
        'admins = ["U0ADA", "U0BOB"]\n'
        f"[slack]\napi_url = {toml_value(standin.api_url)}\n"
        f"[providers.community]\n{provider}\n"
    )
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RESETBOT_", "SLACK_")) and k != "PORT"
    }
    return {
        **keep,
        "PATH": f"{BIN}{os.pathsep}{keep.get('PATH', '')}",
        "RESETBOT_CONFIG": str(config),
        "PORT": str(free_port()),
        "SLACK_BOT_TOKEN": standin.bot_token,
        "SLACK_SIGNING_SECRET": SECRET,
        "WEB_CONCURRENCY": "1",
        "RESETBOT_THREADS": "4",
    }


def run(line: str, env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(  # noqa: S603 - our own lines
        shlex.split(line),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (line, done.stdout, done.stderr)


def wait_healthy(url: str, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}: {proc.communicate()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("serve never answered /healthz")


def start_serve(
    argv: list[str], env: dict[str, str], cwd: Path
) -> tuple[subprocess.Popen[str], str]:
    """Start serve on a free port and wait for /healthz; another port if that one was taken
    between picking and binding (other tests start servers too)."""
    for _ in range(3):
        proc = subprocess.Popen(  # noqa: S603
            argv,
            env=env,
            cwd=cwd,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        url = f"http://127.0.0.1:{env['PORT']}"
        try:
            wait_healthy(url, proc)
        except AssertionError as exc:
            if "in use" not in str(exc):
                raise
            env["PORT"] = str(free_port())
            continue
        assert proc.poll() is None
        return proc, url
    raise AssertionError("no free port for serve after three tries")


def test_procfile_lines() -> None:
    assert procfile() == {"release": "resetbot db upgrade", "web": "resetbot serve"}


def test_serve_files_approves_and_stops_cleanly(
    tmp_path: Path, env: dict[str, str], standin: SlackStandIn, sandbox: Sandbox
) -> None:
    """release, then web: a request filed and approved through gunicorn; SIGTERM exits 0."""
    lines = procfile()
    run(lines["release"], env, tmp_path)
    run("resetbot roles grant U0ALICE requester", env, tmp_path)  # Bob is an admin by config

    proc, url = start_serve(shlex.split(lines["web"]), env, tmp_path)
    try:
        with SlackDriver(standin, f"{url}/slack/events", SECRET) as driver:
            assert (
                driver.command(
                    "U0ALICE", "community tom@example.com locked out", delivery=None
                ).status_code
                == 200
            )
            message = driver.latest_message(SUPPORT, with_buttons=True, timeout=10)
            assert "Tom Taylor" in message.all_text()
            driver.click("U0BOB", message, "approve_request")
            modal = driver.last_opened_view("U0BOB")
            driver.submit_view("U0BOB", modal, {"note": "through gunicorn"})
            sandbox.wait_for_calls(1, timeout=10)
            standin.wait_until(
                lambda: (
                    "Done" in (standin.message(message.channel, message.ts) or message).all_text()
                ),
                10,
                what="the outcome",
            )
            unsigned = httpx.post(f"{url}/slack/events", content=b"command=/reset-password")
            assert unsigned.status_code == 401
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"serve ignored SIGTERM: {err[-2000:]}") from None
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert "WARNING" not in err, err[-3000:]  # a clean start and stop warns about nothing
    assert len(sandbox.action_calls()) == 1
    assert standin.violations == []


def test_serve_in_socket_mode(
    tmp_path: Path, env: dict[str, str], standin: SlackStandIn, sandbox: Sandbox
) -> None:
    """With SLACK_APP_TOKEN set, serve connects over Socket Mode and still serves /healthz."""
    env = {**env, "SLACK_APP_TOKEN": standin.app_token, "RESETBOT_ADMINS": "U0ALICE,U0BOB"}
    del env["SLACK_SIGNING_SECRET"]  # not needed without a public URL
    run("resetbot db upgrade", env, tmp_path)
    proc, _ = start_serve(["resetbot", "serve"], env, tmp_path)
    try:
        standin.socket_mode.wait_connected(timeout=10)
        driver = SocketModeDriver(standin)
        ack = driver.command("U0ALICE", "community tom@example.com locked out", channel_id=SUPPORT)
        assert "filed" in ack["text"] or "Looking up" in ack["text"]  # a cold start may be slow
        message = driver.latest_message(SUPPORT, with_buttons=True, timeout=10)
        driver.click("U0BOB", message, "approve_request")
        driver.submit_view("U0BOB", driver.last_opened_view("U0BOB"), {})
        sandbox.wait_for_calls(1, timeout=10)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            # Hanging up too frees the client's blocking read (else a 3 s receive timeout).
            standin.socket_mode.stop()
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"serve ignored SIGTERM: {err[-2000:]}") from None
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err and "WARNING" not in err, err[-3000:]
    assert standin.violations == []


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _background_worker(master: int, timeout: float = 15.0) -> tuple[int, int]:
    """(web worker pid, background worker pid) under ``resetbot serve``'s gunicorn master."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for web in _children(master):
            for pid in _children(web):  # beside multiprocessing's resource tracker
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return web, pid
        time.sleep(0.1)
    raise AssertionError("no background worker process under the web worker")


def _policies(pid: int) -> list[int]:
    """The scheduling policy of each of the process's threads (/proc/PID/task/TID/stat)."""
    return [
        int((task / "stat").read_text().rsplit(")", 1)[1].split()[38])
        for task in Path(f"/proc/{pid}/task").iterdir()
    ]


def _stop(proc: subprocess.Popen[str], timeout: float = 40) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"serve ignored SIGTERM: {err[-2000:]}") from None
    return err


def _file_and_approve(driver: SlackDriver, standin: SlackStandIn, note: str) -> None:
    before = {m.ts for m in standin.messages(SUPPORT)}
    assert (
        driver.command("U0ALICE", "community tom@example.com locked out", delivery=None).status_code
        == 200
    )
    message = standin.wait_until(
        lambda: next(
            (m for m in standin.messages(SUPPORT) if m.ts not in before and m.buttons()), None
        ),
        15,
        what="the approval message",
    )
    driver.click("U0BOB", message, "approve_request")
    driver.submit_view("U0BOB", driver.last_opened_view("U0BOB"), {"note": note})


def test_serve_runs_jobs_in_a_worker_process_and_restarts_it(
    tmp_path: Path, env: dict[str, str], standin: SlackStandIn, sandbox: Sandbox
) -> None:
    """Provider calls run in a worker process at a lower CPU priority than the acks; if it
    dies, /healthz says so and a new one takes the next request."""
    run("resetbot db upgrade", env, tmp_path)
    run("resetbot roles grant U0ALICE requester", env, tmp_path)
    proc, url = start_serve(["resetbot", "serve"], env, tmp_path)
    try:
        web, worker = _background_worker(proc.pid)
        # It lowers its own priority first thing once Python is up in it.
        wait_for(lambda: _nice(worker) > _nice(web), 15, what="a lower priority for the worker")
        with SlackDriver(standin, f"{url}/slack/events", SECRET) as driver:
            _file_and_approve(driver, standin, "first")
            _wait_done(standin, tmp_path, 1)
            # Every thread, job threads included, at the normal policy and the worker's nice
            # value: never SCHED_IDLE (policy 5), which anything busy at normal priority can
            # starve and an unprivileged thread cannot leave again.
            policies = _policies(worker)
            assert set(policies) == {0}, policies

            os.kill(worker, signal.SIGKILL)
            # /healthz answers 503 until the web process, which looks once a second, has
            # started a replacement; a replacement already there is the other way to pass.
            deadline = time.monotonic() + 10
            while (
                httpx.get(f"{url}/healthz", timeout=2).status_code == 200
                and _background_worker(proc.pid)[1] == worker
            ):
                assert time.monotonic() < deadline, (
                    "the dead worker was neither noticed by /healthz nor replaced"
                )
                time.sleep(0.02)
            wait_healthy(url, proc)
            _, replacement = _background_worker(proc.pid)
            assert replacement != worker

            _file_and_approve(driver, standin, "second")
            _wait_done(standin, tmp_path, 2)
    finally:
        err = _stop(proc)
    assert proc.returncode == 0, err[-3000:]
    assert "background worker" in err and "starting a new one" in err, err[-3000:]
    assert len(sandbox.action_calls()) == 2
    assert standin.violations == []


def test_serve_worker_keeps_working_while_both_cores_are_busy(
    tmp_path: Path, env: dict[str, str], standin: SlackStandIn, sandbox: Sandbox
) -> None:
    """The worker yields to acks (nice 10) but is never starved: with a busy loop at normal
    priority on every core, 30 filings still reach the approval channel. With its job threads
    at SCHED_IDLE (0.4 % of a core each here) they took a minute."""
    for i in range(30):
        sandbox.add_user(email=f"user{i}@example.com", name=f"User {i}")
    config = Path(env["RESETBOT_CONFIG"])
    config.write_text("max_pending_per_requester = 30\n" + config.read_text())
    run("resetbot db upgrade", env, tmp_path)
    run("resetbot roles grant U0ALICE requester", env, tmp_path)
    from tests.benchmarks.run import busy_cores  # the benchmark's loops, at nice 0 here

    proc, url = start_serve(["resetbot", "serve"], env, tmp_path)
    try:
        with busy_cores(0), SlackDriver(standin, f"{url}/slack/events", SECRET) as driver:
            for i in range(30):
                assert (
                    driver.command(
                        "U0ALICE", f"community user{i}@example.com locked out", delivery=None
                    ).status_code
                    == 200
                )
            standin.wait_until(
                lambda: sum(bool(m.buttons()) for m in standin.messages(SUPPORT)) >= 30,
                30,
                what="30 approval messages while every core is busy",
            )
    finally:
        err = _stop(proc)
    assert proc.returncode == 0, err[-3000:]
    assert standin.violations == []


def _states(tmp_path: Path) -> list[RequestState]:
    store = Store(f"sqlite:///{tmp_path / 'resetbot.db'}")
    try:
        with store.session() as s:
            return list(s.scalars(select(ResetRequest.state)))
    finally:
        store.dispose()


def _wait_state(tmp_path: Path, state: RequestState, n: int) -> None:
    wait_for(lambda: _states(tmp_path).count(state) >= n, 20, what=f"{n} request(s) {state.value}")


def _wait_done(standin: SlackStandIn, tmp_path: Path, n: int) -> None:
    """``n`` requests succeeded and the channel shows it."""
    _wait_state(tmp_path, RequestState.SUCCEEDED, n)
    standin.wait_until(
        lambda: (
            sum(
                bool(m.blocks) and "Done" in m.all_text()
                for m in standin.messages(SUPPORT)
                if not m.thread_ts
            )
            >= n
            or None
        ),
        15,
        what=f"{n} outcome(s) in the channel",
    )


def test_sigterm_lets_a_provider_call_in_flight_finish(
    tmp_path: Path, env: dict[str, str], standin: SlackStandIn, sandbox: Sandbox
) -> None:
    """A deploy stops serve (SIGTERM to every process) while the provider is slow: the call
    completes and its outcome is posted before serve exits, instead of ending `unknown`."""
    run("resetbot db upgrade", env, tmp_path)
    run("resetbot roles grant U0ALICE requester", env, tmp_path)
    sandbox.set_latency("action", 3.0)
    proc, url = start_serve(["resetbot", "serve"], env, tmp_path)
    try:
        web, worker = _background_worker(proc.pid)
        with SlackDriver(standin, f"{url}/slack/events", SECRET) as driver:
            _file_and_approve(driver, standin, "before the deploy")
            _wait_state(tmp_path, RequestState.DISPATCHING, 1)
            for pid in (worker, web, proc.pid):  # as a host stops a whole process group
                os.kill(pid, signal.SIGTERM)
    finally:
        err = _stop(proc)
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    _wait_done(standin, tmp_path, 1)
    assert len(sandbox.action_calls()) == 1
