"""The running demo's `say`: what a person types reaches the bot as Slack would send it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from bot.demo.control import Controller
from bot.demo.rig import PEOPLE


def controller() -> Controller:
    rig: Any = SimpleNamespace(
        people=PEOPLE,
        standin=SimpleNamespace(usergroups={"S0MANAGERS": ("managers", {"U0DAN"})}),
    )
    return Controller(rig)


def test_a_typed_handle_becomes_a_mention() -> None:
    """Slack turns a typed @dan into <@U0DAN|dan> (the manifest sets should_escape)."""
    said = controller()._mentions("roles grant @dan requester")
    assert said == "roles grant <@U0DAN|dan> requester"


def test_a_typed_group_handle_becomes_a_group_mention() -> None:
    said = controller()._mentions("roles grant @managers approver")
    assert said == "roles grant <!subteam^S0MANAGERS|@managers> approver"


def test_unknown_handles_and_e_mail_addresses_are_left_alone() -> None:
    said = controller()._mentions("community tom@example.com @zed <@U0BOB|bob> locked out")
    assert said == "community tom@example.com @zed <@U0BOB|bob> locked out"
