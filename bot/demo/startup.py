"""What ``resetbot demo`` does before it loads the bot: check the port, start showing progress."""

from __future__ import annotations

import errno
import shutil
import socket
from typing import TextIO

from bot.demo.client import DemoError


class Progress:
    """One status line on stderr: rewritten in place on a terminal, one line per step if not."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.tty = err.isatty()
        self._width = 0

    def step(self, what: str) -> None:
        text = f"resetbot demo: {what}…"
        if self.tty:
            # A wrapped line could not be rewritten in place.
            text = text[: max(20, shutil.get_terminal_size().columns - 1)]
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


def port_taken(port: int) -> DemoError:
    return DemoError(
        f"port {port} on 127.0.0.1 is already in use; choose another with --port, "
        "or leave it out for a free one"
    )


def check_port(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # The same option the bot's server sets, so that only a real listener counts as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise port_taken(port) from None
            raise DemoError(f"cannot use port {port} on 127.0.0.1: {exc.strerror}") from None
