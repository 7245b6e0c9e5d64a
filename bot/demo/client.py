"""``resetbot demo say|click|transcript``: finding the running demo and asking it to act.

The running demo serves a tiny JSON endpoint on 127.0.0.1 and writes its address and a random
token to a state file only the user can read (``$XDG_RUNTIME_DIR/resetbot/demo.json``, else
``~/.cache/resetbot/demo.json``). ``resetbot demo say`` and ``resetbot demo click`` read that file
and post there; the demo then drives its Slack stand-in exactly like the scripted scenes do
(signed requests into the real bot) and answers with what changed in the channels.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


class DemoError(Exception):
    """Something ``say``/``click`` cannot do; the message is shown as one line."""


def state_path() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path.home() / ".cache"
    return base / "resetbot" / "demo.json"


@dataclass(frozen=True, slots=True)
class DemoState:
    pid: int
    url: str
    token: str
    bot_url: str

    def as_json(self) -> str:
        return json.dumps(
            {"pid": self.pid, "url": self.url, "token": self.token, "bot_url": self.bot_url}
        )


def read_state(path: Path | None = None) -> DemoState | None:
    """The running demo's state, or None when none runs (a stale file is ignored)."""
    path = path or state_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        state = DemoState(
            pid=int(data["pid"]),
            url=str(data["url"]),
            token=str(data["token"]),
            bot_url=str(data["bot_url"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if _alive(state.pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process holds that pid; not ours to judge
    return True


def write_state(state: DemoState, path: Path | None = None) -> Path:
    path = path or state_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(state.as_json())
    os.replace(partial, path)
    return path


def remove_state(state: DemoState, path: Path | None = None) -> None:
    """Remove the state file if it is still this demo's (and its directory, if now empty)."""
    path = path or state_path()
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(current, dict) and current.get("token") == state.token:
        with contextlib.suppress(OSError):
            path.unlink()
        with contextlib.suppress(OSError):
            path.parent.rmdir()


def send(
    method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float = 60.0
) -> str:
    """Ask the running demo to act; what changed in its channels (or the transcript)."""
    state = read_state()
    if state is None:
        raise DemoError("no demo is running; start one with `resetbot demo --keep-running`")
    try:
        response = httpx.request(
            method,
            state.url + path,
            json=body,
            timeout=timeout,
            headers={"Authorization": f"Bearer {state.token}"},
        )
        answer = response.json()
    except httpx.HTTPError as exc:
        raise DemoError(
            f"the demo (pid {state.pid}) does not answer at {state.url}: {type(exc).__name__}"
        ) from None
    except ValueError:
        raise DemoError(f"the demo answered {response.status_code} without JSON") from None
    if not answer.get("ok"):
        raise DemoError(str(answer.get("error") or f"the demo answered {response.status_code}"))
    return str(answer.get("output", ""))
