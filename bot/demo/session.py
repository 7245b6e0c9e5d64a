"""Running ``resetbot demo``: start everything, play the scenes, print, stop and clean up.

It starts ``bot.demo.rig`` (the real bot behind its real HTTP endpoint with a SQLite store in a
temporary directory, a Slack stand-in and four provider sandboxes, all on 127.0.0.1), plays the
scenes in ``bot.demo.scenes``, prints the channel transcript and the audit trail, and stops and
removes everything. With ``keep_running`` it stays up for ``resetbot demo say`` / ``click``.
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TextIO

from bot.demo import client, control, report, scenes
from bot.demo.client import DemoError
from bot.demo.rig import Clock, Rig
from bot.demo.startup import Progress, check_port, port_taken

__all__ = ["DemoError", "DemoOptions", "run"]


@dataclass
class DemoOptions:
    port: int = 0
    keep_running: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    progress: Progress | None = None  # one already showing, e.g. "loading…" during imports
    started: float = field(default_factory=time.monotonic)  # for the time it reports


class WallClock(Clock):
    """Real time, plus however far the demo has jumped ahead (for the expiry scene)."""

    def __init__(self) -> None:
        super().__init__()
        self._ahead = timedelta()
        self._ahead_lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._ahead_lock:
            return datetime.now(UTC) + self._ahead

    def advance(self, **delta: float) -> datetime:
        with self._ahead_lock:
            self._ahead += timedelta(**delta)
        return self()

    def catch_up(self) -> None:
        """Back to real time (once every request the jump touched has ended)."""
        with self._ahead_lock:
            self._ahead = timedelta()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the demo the way Ctrl-C does: through every ``finally``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _signals_set(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` instead of interrupting whatever runs at that moment."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _program() -> str:
    """How the user ran us, so that the commands we suggest work as they are."""
    argv0 = sys.argv[0] if sys.argv else ""
    return shlex.quote(argv0) if Path(argv0).name == "resetbot" else "resetbot"


def run(options: DemoOptions) -> int:
    """Start, play, print, stop; 0 when every scene ended as the script expects."""
    if options.keep_running and (running := client.read_state()) is not None:
        raise DemoError(f"a demo is already running (pid {running.pid}); stop it first")
    if options.port:
        check_port(options.port)  # before anything starts: the error comes at once
    progress = options.progress or Progress(options.err)
    try:
        workdir = Path(tempfile.mkdtemp(prefix="resetbot-demo-"))
    except OSError as exc:
        raise DemoError(f"cannot make a temporary directory: {exc.strerror or exc}") from None
    try:
        with _sigterm_as_interrupt():
            status = _run(options, workdir, progress)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    played = (
        ""
        if options.keep_running
        else (f"played {len(scenes.SCENES)} scenes in {time.monotonic() - options.started:.1f} s; ")
    )
    progress.say(f"{played}stopped everything and removed its files")
    return status


_KINDS = {"mighty_networks": "Mighty Networks", "unleash": "Unleash", "f5xc": "F5 XC", "tyk": "Tyk"}


def _readable(step: str) -> str:
    """The rig's step names, with provider kinds as people write them."""
    kind, _, rest = step.partition(" ")
    return f"{_KINDS[kind]} {rest}" if kind in _KINDS else step


def _run(options: DemoOptions, workdir: Path, progress: Progress) -> int:
    out = options.out
    clock = WallClock()
    rig = Rig(
        workdir,
        clock=clock,
        bot_port=options.port,
        progress=lambda what: progress.step(f"starting the {_readable(what)}"),
    )
    try:
        rig.start()
    except OSError as exc:
        progress.clear()
        if exc.errno == errno.EADDRINUSE and options.port:
            raise port_taken(options.port) from None
        raise DemoError(f"cannot start: {exc.strerror or exc}") from None
    try:
        played = scenes.play(rig, progress.step)
        progress.clear()
        print(report.header(rig), end="\n\n", file=out)
        print(report.scenes(played), end="\n\n", file=out)
        print(report.home(rig, rig.user_id("bob")), end="\n\n", file=out)
        print("Transcript", file=out)
        print(report.transcript(rig), end="\n\n", file=out)
        print(report.audit_table(rig), file=out)
        out.flush()
        unexpected = [p for p in played if not p.as_expected]
        if unexpected:
            progress.say(f"{len(unexpected)} of {len(played)} scenes did not end as expected")
        if options.keep_running:
            clock.catch_up()
            _keep_running(rig, out, progress)
        return 1 if unexpected else 0
    finally:
        rig.stop()


def _keep_running(rig: Rig, out: TextIO, progress: Progress) -> None:
    rig.web.start()  # the sweeper: from now on requests expire in real time
    stop = threading.Event()
    with _signals_set(stop):  # from here on Ctrl-C and SIGTERM just ask it to stop
        server, state = control.start_control(rig)
        try:
            try:
                client.write_state(state)
            except OSError as exc:
                raise DemoError(
                    f"cannot write {client.state_path()}: {exc.strerror or exc}"
                    " (set XDG_RUNTIME_DIR to a writable directory)"
                ) from None
            prog = _program()
            print(
                f"\nThe demo keeps running (pid {os.getpid()}); Ctrl-C here stops it. "
                "From another terminal:",
                file=out,
            )
            for example in (
                f'{prog} demo say @alice "/reset-password community uma@example.com locked out"',
                f"{prog} demo click @bob approve <id>",
                f'{prog} demo click @carol deny <id> --reason "ask her manager"',
                f"{prog} demo transcript",
            ):
                print(f"  {example}", file=out)
            out.flush()
            while not stop.wait(0.5):
                pass
            progress.say("stopping")
        finally:
            server.stop()
            client.remove_state(state)
