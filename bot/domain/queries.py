"""What people ask to see: one request, their recent ones, those they can decide, providers."""

from __future__ import annotations

from bot.domain import policy
from bot.domain.context import Context
from bot.domain.errors import RequestNotFound
from bot.domain.ports import GroupCheckFailed
from bot.domain.views import ProviderStatus, RequestLine, RequestView, request_line
from bot.store import requests as request_store
from bot.store import roles as role_store
from bot.store.models import ALL_PROVIDERS
from providers.base import CredentialCheck, ProviderError


class Queries:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def current(self, request_id: str) -> RequestView:
        """The request as it stands, for rendering; no permission check (never shown on
        request)."""
        return self.ctx.current(request_id)

    def get(self, request_id: str, actor: str) -> RequestView:
        self.ctx.expire_if_due(request_id)
        with self.ctx.store.reading() as tx:
            request = self.ctx.load(tx, request_id)
            if not policy.may_see(
                self.ctx.roles(tx, actor, request.provider),
                is_requester=request.requester_id == actor,
            ):
                raise RequestNotFound(f"There is no request `{request_id[:20]}` you can see.")
            return self.ctx.view(request)

    def open_for(self, actor: str) -> list[RequestLine]:
        """``actor``'s requests that are not finished yet, newest first."""
        return [line for line in self.recent_for(actor) if not line.state.is_final]

    def recent_for(self, actor: str) -> list[RequestLine]:
        """``actor``'s latest requests, newest first."""
        rows = request_store.recent_lines(self.ctx.store, actor)
        return [request_line(r, self.ctx.catalog) for r in rows]

    def pending_for(self, actor: str) -> list[RequestLine]:
        """Pending requests ``actor`` could decide now, oldest first."""
        grants = role_store.read_held_by_scope(self.ctx.store, actor)
        admins = self.ctx.settings.admins
        deciding = sorted(
            name
            for name in self.ctx.catalog
            if policy.may_decide(
                policy.effective(
                    (g.role for g in grants if g.provider_scope in (ALL_PROVIDERS, name)),
                    actor,
                    admins,
                )
            )
        )
        deciding += self._through_groups(actor, set(self.ctx.catalog) - set(deciding))
        deciding.sort()
        if not deciding:
            return []
        self_approving = [
            name for name in deciding if policy.self_approval_allowed(self.ctx.settings, name)
        ]
        rows = request_store.pending_lines(
            self.ctx.store,
            deciding,
            self.ctx.clock(),
            actor=actor,
            self_approving=self_approving,
        )
        return [request_line(r, self.ctx.catalog) for r in rows]

    def _through_groups(self, actor: str, providers: set[str]) -> list[str]:
        """The providers ``actor`` decides for as a member of a user group granted the approver
        role; a group that cannot be checked lists nothing (and allows nothing)."""
        found = []
        with self.ctx.store.reading() as tx:
            for name in sorted(providers):
                for group in role_store.group_deciders(tx, name):
                    try:
                        if actor in self.ctx.group_members(group):
                            found.append(name)
                            break
                    except GroupCheckFailed:
                        continue
        return found

    def provider_status(self) -> list[ProviderStatus]:
        out = []
        for name in self.ctx.catalog.names():
            instance = self.ctx.catalog[name]
            try:
                check = instance.check_credentials()
            except ProviderError as exc:
                check = CredentialCheck(ok=False, detail=str(exc))
            out.append(
                ProviderStatus(name, instance.title, tuple(a.name for a in instance.actions), check)
            )
        return out
