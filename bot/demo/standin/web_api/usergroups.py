"""The ``usergroups.*`` Web API methods: ``usergroups.list`` and ``usergroups.users.list``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.demo.standin.core import ApiError, StandInCore


class UsergroupsMethods(StandInCore):
    def _usergroups_list(self, params: dict[str, Any]) -> dict[str, Any]:
        groups = [
            {"id": gid, "team_id": "T0STANDIN", "handle": handle, "name": handle.title()}
            for gid, (handle, _) in sorted(self.usergroups.items())
        ]
        return {"ok": True, "usergroups": groups}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(str(params.get("usergroup") or ""))
        if group is None:
            raise ApiError("no_such_subteam")
        return {"ok": True, "users": sorted(group[1])}


METHODS: dict[str, Callable[[UsergroupsMethods, dict[str, Any]], dict[str, Any]]] = {
    "usergroups.list": UsergroupsMethods._usergroups_list,
    "usergroups.users.list": UsergroupsMethods._usergroups_users_list,
}
