"""The ``apps.*`` Web API methods: apps.connections.open and the Socket Mode server behind it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.demo.standin.core import StandInCore

if TYPE_CHECKING:
    from bot.demo.standin.socket_mode import SocketModeServer


class AppsMethods(StandInCore):
    @property
    def socket_mode(self) -> SocketModeServer:
        """The Socket Mode server behind ``apps.connections.open``, started on first use."""
        from bot.demo.standin.socket_mode import SocketModeServer

        with self._lock:
            if self._server is None:
                raise RuntimeError("the stand-in is not started")
            if self._socket_mode is None or not self._socket_mode.running:
                self._socket_mode = SocketModeServer(host=self._host).start()
            return self._socket_mode

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.socket_mode.new_url()}


METHODS: dict[str, Callable[[AppsMethods, dict[str, Any]], dict[str, Any]]] = {
    "apps.connections.open": AppsMethods._apps_connections_open,
}
