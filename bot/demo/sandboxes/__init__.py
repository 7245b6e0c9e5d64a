"""Loopback servers that follow each provider's documented API, for the demo and the tests."""

from __future__ import annotations

from typing import Literal, overload

from bot.demo.sandboxes.f5xc import F5XCSandbox
from bot.demo.sandboxes.mighty_networks import MightyNetworksSandbox
from bot.demo.sandboxes.routes import RecordedCall
from bot.demo.sandboxes.server import FAULTS, Sandbox
from bot.demo.sandboxes.tyk import TykSandbox
from bot.demo.sandboxes.unleash import UnleashSandbox

SANDBOX_KINDS: dict[str, type[Sandbox]] = {
    MightyNetworksSandbox.kind: MightyNetworksSandbox,
    UnleashSandbox.kind: UnleashSandbox,
    F5XCSandbox.kind: F5XCSandbox,
    TykSandbox.kind: TykSandbox,
}

__all__ = [
    "FAULTS",
    "SANDBOX_KINDS",
    "F5XCSandbox",
    "MightyNetworksSandbox",
    "RecordedCall",
    "Sandbox",
    "TykSandbox",
    "UnleashSandbox",
    "start_sandbox",
]


@overload
def start_sandbox(
    kind: Literal["mighty_networks"], *, host: str = ..., port: int = ...
) -> MightyNetworksSandbox: ...
@overload
def start_sandbox(
    kind: Literal["unleash"], *, host: str = ..., port: int = ...
) -> UnleashSandbox: ...
@overload
def start_sandbox(kind: Literal["f5xc"], *, host: str = ..., port: int = ...) -> F5XCSandbox: ...
@overload
def start_sandbox(kind: Literal["tyk"], *, host: str = ..., port: int = ...) -> TykSandbox: ...
@overload
def start_sandbox(kind: str, *, host: str = ..., port: int = ...) -> Sandbox: ...
def start_sandbox(kind: str, *, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
    """Start the sandbox of ``kind`` on a daemon thread; stop it with ``stop()`` or ``with``."""
    try:
        cls = SANDBOX_KINDS[kind]
    except KeyError:
        raise ValueError(
            f"no sandbox for kind {kind!r}; one of {', '.join(SANDBOX_KINDS)}"
        ) from None
    return cls(host=host, port=port).start()
