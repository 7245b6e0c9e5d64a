"""``resetbot demo`` as a newcomer runs it: a subprocess, its transcript, nothing left behind."""

from __future__ import annotations

import io
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from wsgiref.util import setup_testing_defaults

import pytest

from bot.demo.client import DemoState, read_state, remove_state, write_state
from bot.demo.control import Controller, control_app
from bot.demo.session import DemoOptions, run

BUDGET = 30.0  # seconds the whole scripted demo may take, start to exit
URL = re.compile(r"http://127\.0\.0\.1:(\d+)")
LINK = re.compile(r"http://127\.0\.0\.1:\d+/reset-password\?token=\S+?(?=```|\s|$)")


def resetbot() -> list[str]:
    exe = Path(sys.executable).parent / "resetbot"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "bot"]


def resetbot_run(
    env: dict[str, str], *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own console script)
        [*resetbot(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def demo_env(home: Path) -> dict[str, str]:
    """A clean environment: temp files, the state file and $HOME all under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("RESETBOT_", "SLACK_"))}
    for name in ("tmp", "run", "home"):
        (home / name).mkdir(exist_ok=True)
    env.update(
        TMPDIR=str(home / "tmp"),
        XDG_RUNTIME_DIR=str(home / "run"),
        HOME=str(home / "home"),
        PYTHONUNBUFFERED="1",
    )
    return env


def sections(transcript: str) -> dict[str, str]:
    """The transcript split at its headings: ``#it-support``, ``Direct messages with @alice``."""
    found: dict[str, str] = {}
    heading = None
    for line in transcript.splitlines():
        if line and not line.startswith(" "):
            heading = line
            found[heading] = ""
        elif heading is not None:
            found[heading] += line + "\n"
    return found


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Finished:
    status: int
    out: str
    err: str
    seconds: float
    home: Path

    def part(self, title: str, until: str | None = None) -> str:
        """The report's section whose heading line starts with ``title`` (heading included)."""
        start = self.out.index(f"\n{title}") + 1
        end = self.out.index(f"\n{until}", start) if until else len(self.out)
        return self.out[start:end]


def run_demo(home: Path, *args: str, timeout: float = 60.0) -> Finished:
    started = time.monotonic()
    done = resetbot_run(demo_env(home), "demo", *args, timeout=timeout)
    return Finished(done.returncode, done.stdout, done.stderr, time.monotonic() - started, home)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """One run of ``resetbot demo`` shared by the checks below (it takes about a second)."""
    return run_demo(tmp_path_factory.mktemp("demo"))


class TestScriptedDemo:
    def test_exits_0_well_within_the_budget(self, demo: Finished) -> None:
        """The demo ends by itself with status 0, far below 30 s."""
        assert demo.status == 0, demo.err
        assert demo.seconds < BUDGET
        assert "stopped everything and removed its files" in demo.err.splitlines()[-1]

    def test_progress_goes_to_stderr(self, demo: Finished) -> None:
        """While it starts, stderr says what it is starting; stdout holds only the report."""
        for step in (
            "loading the bot",
            "the Slack stand-in",
            "the Mighty Networks sandbox",
            "the F5 XC sandbox",
            "the store",
            "the bot",
            "scene 10 of 10: A reminder, then a member of @managers approves",
        ):
            assert step in demo.err
        assert "starting" not in demo.out

    def test_every_scene_ends_as_scripted(self, demo: Finished) -> None:
        """The scene list names all ten scenes and their outcomes, none unexpected."""
        scenes = demo.part("Scenes", "Transcript")
        assert "UNEXPECTED" not in scenes
        for outcome in (
            "1. Mighty Networks reset, approved [R",
            "]: succeeded",
            "2. Unleash reset: the link goes only to the requester's DM",
            "3. Tyk permission grant",
            "4. F5 XC reset for an SSO user, refused: nothing filed",
            "5. Self-approval refused",
            "6. Denied, with a reason",
            "]: denied",
            "7. Expired",
            "]: expired",
            "8. The account's owner confirms, then receives the link",
            "9. The account's owner did not ask: rejected, security alerted",
            "]: rejected_by_target",
            "10. A reminder, then a member of @managers approves",
        ):
            assert outcome in scenes

    def test_mighty_networks_reset_approved(self, demo: Finished) -> None:
        channel = sections(demo.part("Transcript", "Audit trail"))["#it-support"]
        assert "Alice Archer typed /reset-password community tom@example.com" in channel
        assert "approved by @bob (“called Tom back on his desk phone”)" in channel
        assert "Done: Mighty Networks sent a password-reset e-mail to Tom Taylor" in channel

    def test_unleash_link_only_in_the_requesters_dm(self, demo: Finished) -> None:
        """The reset link is in @alice's DM and nowhere else: not the channel, not the audit.
        (Scene 8's link, for an owner who is in Slack, is in @vic's DM instead.)"""
        transcript = demo.part("Transcript", "Audit trail")
        parts = sections(transcript)
        links = LINK.findall(transcript)
        assert len(links) == 2
        assert links[0] in parts["Direct messages with @alice"]
        assert links[0] not in parts["#it-support"]
        assert links[1] in parts["Direct messages with @vic"]
        assert links[1] not in parts["Direct messages with @alice"]
        assert links[1] not in parts["#it-support"]
        assert "token=" not in demo.part("Audit trail")
        assert (
            "The reset link goes only to the requester, by direct message."
            in (parts["#it-support"])
        )

    def test_bobs_home_tab_is_printed(self, demo: Finished) -> None:
        home = demo.part("Home tab of @bob", "Transcript")
        assert "Your open requests" in home and "Waiting for your decision" in home

    def test_the_owner_who_did_not_ask_alerts_security(self, demo: Finished) -> None:
        parts = sections(demo.part("Transcript", "Audit trail"))
        assert "Security alert" in parts["#security"]
        assert "caller says he is Vic" in parts["#security"]
        assert "Rejected by the account's owner" in parts["#it-support"]

    def test_tyk_permission_grant(self, demo: Finished) -> None:
        channel = sections(demo.part("Transcript", "Audit trail"))["#it-support"]
        assert "typed /reset-password gateway allow tom@example.com new team lead" in channel
        assert (
            "Tyk Dashboard now lets Tom Taylor <tom@example.com> reset other users' "
            "passwords." in channel
        )

    def test_f5_sso_user_refused_with_the_reason(self, demo: Finished) -> None:
        """Sam signs in through SSO: alice is told why, privately, and nothing is filed."""
        channel = sections(demo.part("Transcript", "Audit trail"))["#it-support"]
        # The "Looking up…" ack, edited into the answer, which only alice sees.
        assert re.search(
            r"  resetbot  (\(edited\) )?\(only visible to @alice\)\n      :warning: "
            r"Sam Sso <sam@example.com> can't be reset here: they sign in through "
            r"the tenant's single sign-on identity provider",
            channel,
        )
        assert "reset it at the identity provider. Nothing was filed." in channel
        assert "Sam Sso · sam@example.com" not in channel  # no approval message for Sam
        assert re.search(
            r"@alice\s+request\.rejected\s+edge\s+sam@example\.com\s+"
            r"not_resettable",
            demo.part("Audit trail"),
        )

    def test_self_approval_refused(self, demo: Finished) -> None:
        """bob files, bob's own Approve is refused (only he sees why), carol approves."""
        channel = sections(demo.part("Transcript", "Audit trail"))["#it-support"]
        assert "Bob Baker typed /reset-password community uma@example.com" in channel
        assert re.search(
            r"  resetbot  (\(edited\) )?\(only visible to @bob\)\n      :no_entry: "
            r"You can't decide your own request; another approver must\.",
            channel,
        )
        assert "*Requested by*\n      @bob\n" in channel
        assert "approved by @carol" in channel

    def test_denial_with_a_reason(self, demo: Finished) -> None:
        parts = sections(demo.part("Transcript", "Audit trail"))
        reason = "Denied by @bob: Uma is on leave this week; her manager must ask"
        assert reason in parts["#it-support"]
        assert reason in parts["Direct messages with @alice"]

    def test_expired_request(self, demo: Finished) -> None:
        parts = sections(demo.part("Transcript", "Audit trail"))
        assert "Expired — nobody decided in time" in parts["#it-support"]
        assert "Expired — nobody decided in time" in parts["Direct messages with @alice"]
        assert "[Approve]" not in parts["#it-support"]  # every request is decided by the end

    def test_audit_trail_as_a_table(self, demo: Finished) -> None:
        """The audit trail ends the output: a header, a rule, one row per event, oldest first."""
        audit = demo.part("Audit trail").splitlines()
        assert audit[0].startswith("Audit trail (")
        assert audit[1].split() == [
            "#",
            "time",
            "actor",
            "action",
            "request",
            "provider",
            "target",
            "outcome",
        ]
        assert set(audit[2].replace(" ", "")) == {"-"}
        rows = audit[3:]
        count = int(re.search(r"\((\d+) events", demo.out)[1])  # type: ignore[index]
        assert len(rows) == count
        assert [int(r.split()[0]) for r in rows] == list(range(1, count + 1))
        actions = [r.split()[3] for r in rows]
        for action in (
            "role.granted",
            "request.filed",
            "request.approved",
            "request.succeeded",
            "secret.delivered",
            "request.rejected",
            "request.denied",
            "request.expired",
        ):
            assert action in actions

    def test_leaves_no_port_listening(self, demo: Finished) -> None:
        """Every loopback server it reported (bot, stand-in, four sandboxes) is closed."""
        ports = {int(p) for p in URL.findall(demo.out.split("\nScenes")[0])}
        assert len(ports) == 6
        assert not [p for p in ports if listening(p)]

    def test_leaves_no_file_behind(self, demo: Finished) -> None:
        """The temporary directory with the store is gone; no state file was written."""
        workdir = re.search(r"SQLite store in (\S+?)\)", demo.out)
        assert workdir is not None
        assert Path(workdir[1]).parent == demo.home / "tmp"
        assert not Path(workdir[1]).exists()
        assert list((demo.home / "tmp").iterdir()) == []
        assert list((demo.home / "run").iterdir()) == []


class TestPortTaken:
    def test_one_line_and_status_1(self, tmp_path: Path) -> None:
        """--port on a port something listens on: one clear line, exit 1, nothing started."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            done = run_demo(tmp_path, "--port", str(port))
        assert done.status == 1
        assert done.out == ""
        assert done.err == (
            f"resetbot: port {port} on 127.0.0.1 is already in use; choose "
            "another with --port, or leave it out for a free one\n"
        )
        assert list((tmp_path / "tmp").iterdir()) == []

    def test_fixed_free_port_is_used(self, tmp_path: Path) -> None:
        """--port on a free port: the bot listens exactly there."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        done = run_demo(tmp_path, "--port", str(port))
        assert done.status == 0, done.err
        assert f"http://127.0.0.1:{port}/slack/events" in done.out
        assert not listening(port)

    def test_not_a_port(self, tmp_path: Path) -> None:
        done = run_demo(tmp_path, "--port", "70000")
        assert done.status == 2
        assert "'70000' is not a port number" in done.err


class KeptDemo:
    """``resetbot demo --keep-running`` in the background, and commands sent to it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = demo_env(home)
        self.proc = subprocess.Popen(  # noqa: S603 (our own console script)
            [*resetbot(), "demo", "--keep-running"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line)

    def wait_ready(self, timeout: float = BUDGET) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.proc.poll() is None, self.proc.stderr.read()  # type: ignore[union-attr]
                continue
            self.out.append(line)
            if "resetbot demo transcript" in line:
                return "".join(self.out)
        raise AssertionError("the demo never said it keeps running")

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        return resetbot_run(self.env, "demo", *args)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    @property
    def state_file(self) -> Path:
        return self.home / "run" / "resetbot" / "demo.json"


@pytest.fixture
def kept(tmp_path: Path) -> Iterator[KeptDemo]:
    demo = KeptDemo(tmp_path)
    try:
        yield demo
    finally:
        demo.stop(signal.SIGKILL if demo.proc.poll() is None else signal.SIGTERM)


class TestKeepRunning:
    def test_say_and_click_from_other_commands(self, kept: KeptDemo) -> None:
        """It stays up, says how to talk to it, and say/click act and print what changed."""
        banner = kept.wait_ready()
        assert "Ctrl-C here stops it" in banner
        assert 'demo say @alice "/reset-password community uma@example.com locked out"' in banner
        assert "demo click @bob approve <id>" in banner
        assert kept.state_file.stat().st_mode & 0o077 == 0  # the token is the user's alone

        typed = "/reset-password community uma@example.com locked out"
        said = kept.command("say", "@alice", typed)
        assert said.returncode == 0, said.stderr
        assert f"Alice Archer typed {typed}" in said.stdout
        assert "[Approve] [Deny]" in said.stdout
        request_id = re.search(r"Request `(R[0-9A-Z]+)` filed", said.stdout)
        assert request_id is not None, said.stdout
        rid = request_id[1]
        assert "Password reset request" not in said.stdout.split(rid)[0].split("typed")[0]

        own = kept.command("click", "@alice", "approve", rid)
        assert own.returncode == 0, own.stderr
        assert "(only visible to @alice)" in own.stdout and ":no_entry:" in own.stdout

        approved = kept.command("click", "@bob", "approve", rid, "--note", "checked")
        assert approved.returncode == 0, approved.stderr
        assert "approved by @bob (“checked”)" in approved.stdout
        assert "Done: Mighty Networks sent a password-reset e-mail to Uma Upton" in approved.stdout
        assert "Direct messages with @alice" in approved.stdout
        assert "Alice Archer typed" not in approved.stdout  # only what changed

        again = kept.command("click", "@carol", "approve", rid)
        assert again.returncode == 1
        assert again.stderr == f"resetbot: request {rid} is succeeded: its buttons are gone\n"

        whole = kept.command("transcript")
        assert whole.returncode == 0
        assert "Expired — nobody decided in time" in whole.stdout  # the scripted part is there
        assert "approved by @bob (“checked”)" in whole.stdout

        assert kept.stop(signal.SIGTERM) == 0
        assert not kept.state_file.exists()

    def test_mistakes_get_one_line(self, kept: KeptDemo) -> None:
        """Unknown people, a deny without a reason, an unknown id: one line each, exit 1."""
        kept.wait_ready()
        cases = {
            ("say", "@zed", "help"): "resetbot: nobody called @zed in the demo; people: "
            "@alice, @bob, @carol, @dan, @erin, @ada, @vic, @ray\n",
            ("say", "@alice", "/remind me"): "resetbot: only /reset-password exists here, "
            "not /remind\n",
            ("say", "@alice", "/reset-password"): "resetbot: /reset-password alone opens a form,"
            " which cannot be filled in from here; type "
            'the whole request, e.g. "/reset-password '
            'community uma@example.com locked out"\n',
            ("click", "@bob", "deny", "RNOPE"): 'resetbot: deny needs a reason: --reason "…" '
            "(the Deny form requires one)\n",
            ("click", "@bob", "approve", "RNOPE"): "resetbot: no request RNOPE; the ids are in "
            "the transcript\n",
        }
        for args, expected in cases.items():
            done = kept.command(*args)
            assert (done.returncode, done.stderr) == (1, expected), args
        second = kept.command("--keep-running")
        assert second.returncode == 1
        assert second.stderr.startswith("resetbot: a demo is already running (pid ")

    @pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
    def test_stops_cleanly(self, kept: KeptDemo, signum: int) -> None:
        """Ctrl-C or SIGTERM: exit 0, every port closed, the temp dir and state file gone."""
        banner = kept.wait_ready()
        state = kept.state_file.read_text()
        control = int(URL.search(state)[1])  # type: ignore[index]
        ports = {int(p) for p in URL.findall(banner.split("\nScenes")[0])} | {control}
        assert len(ports) == 7 and all(listening(p) for p in ports)
        assert kept.stop(signum) == 0
        assert not [p for p in ports if listening(p)]
        assert not kept.state_file.exists()
        assert list((kept.home / "tmp").iterdir()) == []
        assert kept.command("say", "@alice", "help").stderr == (
            "resetbot: no demo is running; start one with `resetbot demo --keep-running`\n"
        )


def test_say_without_a_running_demo(tmp_path: Path) -> None:
    done = resetbot_run(demo_env(tmp_path), "demo", "say", "@alice", "help")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "resetbot: no demo is running; start one with `resetbot demo --keep-running`\n"
    )


class TestStateFile:
    """How ``say``/``click`` find the running demo: a private file that a stale copy can't fool."""

    @pytest.fixture(autouse=True)
    def runtime_dir(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
        return tmp_path

    def state(self, pid: int, token: str = "t0ken") -> DemoState:  # noqa: S107
        return DemoState(
            pid=pid,
            url="http://127.0.0.1:9",
            token=token,
            bot_url="http://127.0.0.1:9/slack/events",
        )

    def test_private_to_the_user(self, runtime_dir: Path) -> None:
        path = write_state(self.state(os.getpid()))
        assert path == runtime_dir / "resetbot" / "demo.json"
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
        assert read_state() == self.state(os.getpid())

    def test_a_dead_demos_file_is_ignored(self) -> None:
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        write_state(self.state(gone.pid))
        assert read_state() is None

    def test_only_its_own_file_is_removed(self, runtime_dir: Path) -> None:
        """A demo that stops removes the file only if a newer demo has not replaced it."""
        path = write_state(self.state(os.getpid(), "newer"))
        remove_state(self.state(os.getpid(), "older"))
        assert path.exists()
        remove_state(self.state(os.getpid(), "newer"))
        assert not path.exists() and not path.parent.exists()


def test_in_process_run_leaves_no_thread_or_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run in this process, the demo returns with every server thread joined and port closed."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = set(threading.enumerate())
    out, err = io.StringIO(), io.StringIO()
    assert run(DemoOptions(out=out, err=err)) == 0, err.getvalue()
    ports = {int(p) for p in URL.findall(out.getvalue().split("\nScenes")[0])}
    assert len(ports) == 6
    assert not [p for p in ports if listening(p)]
    deadline = time.monotonic() + 5
    while (left := [t for t in set(threading.enumerate()) - before if t.is_alive()]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert left == []
    assert list(tmp_path.iterdir()) == []


def test_control_endpoint_needs_the_token() -> None:
    """Without the state file's token the running demo acts for nobody."""
    app = control_app(cast(Controller, None), "the-token")
    statuses: list[str] = []
    for header in (None, "Bearer wrong", "the-token"):
        environ: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": "/transcript"}
        if header is not None:
            environ["HTTP_AUTHORIZATION"] = header
        setup_testing_defaults(environ)
        body = b"".join(app(environ, lambda status, headers: statuses.append(status)))
        assert b"wrong token" in body
    assert statuses == ["401 Unauthorized"] * 3
