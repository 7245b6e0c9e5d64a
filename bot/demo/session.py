"""Running ``resetbot demo``: start everything, play the scenes, print, stop and clean up.

It starts ``bot.rig`` (the real bot behind its real HTTP endpoint with a SQLite store in a
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
import socket
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
from bot.rig import Clock, Rig

__all__ = ["DemoError", "DemoOptions", "run"]


@dataclass
class DemoOptions:
    port: int = 0
    keep_running: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)


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


class Progress:
    """One status line on stderr: rewritten in place on a terminal, one line per step if not."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.tty = err.isatty()
        self._width = 0

    def step(self, what: str) -> None:
        text = f"resetbot demo: {what}…"
        if self.tty:
            self.err.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.err.write(text + "\n")
        self.err.flush()

    def clear(self) -> None:
        if self.tty and self._width:
            self.err.write("\r" + " " * self._width + "\r")
            self.err.flush()
            self._width = 0

    def say(self, text: str) -> None:
        self.clear()
        self.err.write(f"resetbot demo: {text}\n")
        self.err.flush()


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


def _program() -> str:
    """How the user ran us, so that the commands we suggest work as they are."""
    argv0 = sys.argv[0] if sys.argv else ""
    return shlex.quote(argv0) if Path(argv0).name == "resetbot" else "resetbot"


def run(options: DemoOptions) -> int:
    """Start, play, print, stop; 0 when every scene ended as the script expects."""
    started = time.monotonic()
    if options.keep_running and (running := client.read_state()) is not None:
        raise DemoError(f"a demo is already running (pid {running.pid}); stop it first")
    if options.port:
        _check_port(options.port)  # before anything starts: the error comes at once
    progress = Progress(options.err)
    workdir = Path(tempfile.mkdtemp(prefix="resetbot-demo-"))
    try:
        with _sigterm_as_interrupt():
            status = _run(options, workdir, progress)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    played = "" if options.keep_running else (
        f"played {len(scenes.SCENES)} scenes in {time.monotonic() - started:.1f} s; ")
    progress.say(f"{played}stopped everything and removed its files")
    return status


def _port_taken(port: int) -> DemoError:
    return DemoError(f"port {port} on 127.0.0.1 is already in use; choose another with --port, "
                     "or leave it out for a free one")


def _check_port(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # The same option the bot's server sets, so that only a real listener counts as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise _port_taken(port) from None
            raise DemoError(f"cannot use port {port} on 127.0.0.1: {exc.strerror}") from None


def _run(options: DemoOptions, workdir: Path, progress: Progress) -> int:
    out = options.out
    clock = WallClock()
    rig = Rig(workdir, clock=clock, bot_port=options.port,
              progress=lambda what: progress.step(f"starting the {what}"))
    try:
        rig.start()
    except OSError as exc:
        progress.clear()
        if exc.errno == errno.EADDRINUSE and options.port:
            raise _port_taken(options.port) from None
        raise DemoError(f"cannot start: {exc.strerror or exc}") from None
    try:
        played = scenes.play(rig, progress.step)
        progress.clear()
        print(report.header(rig), end="\n\n", file=out)
        print(report.scenes(played), end="\n\n", file=out)
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
    rig.runtime.start()  # the sweeper: from now on requests expire in real time
    server, state = control.start_control(rig)
    try:
        client.write_state(state)
        prog = _program()
        print(f"\nThe demo keeps running (pid {os.getpid()}); Ctrl-C here stops it. "
              "From another terminal:", file=out)
        for example in (
            f'{prog} demo say @alice "/reset-password community uma@example.com locked out"',
            f"{prog} demo click @bob approve <id>",
            f'{prog} demo click @carol deny <id> --reason "ask her manager"',
            f"{prog} demo transcript",
        ):
            print(f"  {example}", file=out)
        out.flush()
        stop = threading.Event()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            progress.say("stopping")
    finally:
        server.stop()
        client.remove_state(state)
