"""`resetbot config check --online`: per provider, reachable, credentials accepted, rights held."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main

Start = Callable[[str], Any]


def _toml(name: str, settings: dict[str, Any]) -> str:
    lines = [f"[providers.{name}]"]
    lines += [f'{key} = "{value}"' for key, value in settings.items()]
    return "\n".join(lines)


def test_online_check_names_each_shortfall(
    sandboxes: Start,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A good Unleash PAT passes; a Mighty Networks token of a non-admin fails in one line."""
    for var in list(os.environ):
        if var.upper().startswith(("RESETBOT_", "SLACK_")):
            monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    flags, community = sandboxes("unleash"), sandboxes("mighty_networks")
    community.token_admin = False
    config = tmp_path / "resetbot.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "bot.db"}"\nadmins = ["U0ADMIN"]\n\n'
        + _toml("flags", flags.settings_dict())
        + "\n\n"
        + _toml("community", community.settings_dict()),
        encoding="utf-8",
    )
    status = main(["config", "check", "--online", "--config", str(config)])
    out, _ = capsys.readouterr()
    assert status == 1
    assert "ok   flags (Unleash): ok: reachable; token accepted" in out
    assert "FAIL community (Mighty Networks)" in out and "not an admin" in out
    assert "     - The token's user" in out
    assert flags.admin_pat not in out and community.token not in out
