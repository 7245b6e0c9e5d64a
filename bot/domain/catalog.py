"""The configured provider instances as the domain sees them: names, titles, actions, words."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from bot.domain.errors import UnknownProvider
from providers.base import Account, Provider


class Catalog(Mapping[str, Provider[Any]]):
    """Provider clients by the instance name people type."""

    def __init__(self, providers: Mapping[str, Provider[Any]]) -> None:
        self._providers = dict(providers)

    def __getitem__(self, name: str) -> Provider[Any]:
        return self._providers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    def names(self) -> list[str]:
        return sorted(self._providers)

    def actions(self) -> dict[str, list[str]]:
        """Each instance's action words, the default first."""
        return {name: [a.name for a in p.actions] for name, p in self._providers.items()}

    def menu(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """(name, title, [(action, label)]) per instance, for the request form."""
        return [
            (name, p.title, [(a.name, a.label) for a in p.actions])
            for name, p in sorted(self._providers.items())
        ]

    def require(self, name: str | None, *, field: str | None = "provider") -> None:
        """UnknownProvider, naming the configured ones, unless ``name`` is one (or None)."""
        if name is not None and name not in self._providers:
            known = ", ".join(self.names()) or "none configured"
            raise UnknownProvider(
                f"There is no provider called '{name}'. Configured: {known}.", field=field
            )

    def secret_of(self, name: str, action: str) -> str | None:
        """What secret the action returns ("reset link"), or None."""
        instance = self._providers.get(name)
        for spec in instance.actions if instance is not None else ():
            if spec.name == action:
                return spec.returns
        return None

    def title(self, name: str) -> str:
        instance = self._providers.get(name)
        return instance.title if instance is not None else name

    def describe(self, name: str, action: str, account: Account) -> str:
        """The action in plain words; a generic phrase for an instance no longer configured."""
        instance = self._providers.get(name)
        if instance is not None:
            try:
                return instance.describe(action, account)
            except (KeyError, ValueError):
                pass
        return f"{action} for {account.label}"

    def close(self) -> None:
        for provider in self._providers.values():
            provider.close()
