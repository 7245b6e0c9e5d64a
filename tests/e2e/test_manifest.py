"""slack-manifest.yml matches what the app does: its command, its URLs, and the scopes it uses."""

from __future__ import annotations

import re
from pathlib import Path

from bot.demo.rig import Rig
from bot.server import EVENTS_PATH
from tests.e2e.e2e_support import succeeded

MANIFEST = Path(__file__).resolve().parents[2] / "slack-manifest.yml"
# Every Web API method the bot may call, and the bot scope it needs (None: no scope).
SCOPE_OF = {
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.open": "im:write",
    "users.lookupByEmail": "users:read.email",
    "usergroups.list": "usergroups:read",
    "usergroups.users.list": "usergroups:read",
    "views.open": None,
    "views.update": None,
    "views.publish": None,
}
NOT_WEB_API = {"ack", "response_url"}  # what the stand-in records besides Web API calls
# Scopes Slack grants only together with another.
GRANTED_WITH = {"users:read.email": {"users:read"}}


def with_companions(scopes: set[str | None]) -> set[str | None]:
    return scopes.union(*(GRANTED_WITH.get(s or "", set()) for s in scopes))


def manifest() -> str:
    return MANIFEST.read_text()


def bot_scopes(text: str) -> set[str]:
    """The list under oauth_config.scopes.bot (no YAML parser needed for this shape)."""
    block = text.split("    bot:", 1)[1]
    scopes = set()
    for line in block.splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if not stripped.startswith("- "):
            break
        scopes.add(stripped[2:].strip())
    return scopes


def test_command_and_urls() -> None:
    text = manifest()
    assert re.search(r"^\s+- command: /reset-password$", text, re.M)
    urls = re.findall(r"^\s+(?:url|request_url): (\S+)$", text, re.M)
    assert len(urls) == 3 and all(u.endswith(EVENTS_PATH) for u in urls), urls
    assert re.search(r"home_tab_enabled: true", text)
    assert re.search(r"bot_events:\n\s+- app_home_opened", text)
    assert re.search(r"interactivity:\n\s+is_enabled: true", text)
    # The parser takes mentions as <@U…> and undoes Slack's &lt; escaping: both need this.
    assert re.search(r"^\s+should_escape: true$", text, re.M)
    assert re.search(r"^\s+socket_mode_enabled: false$", text, re.M)


def test_every_method_in_the_code_has_a_known_scope() -> None:
    """Methods the code can call (not only the ones the flow below happens to reach)."""
    source = "".join(p.read_text() for p in (MANIFEST.parent / "bot" / "slack").rglob("*.py"))
    methods = {f"{a}.{b}" for a, b in re.findall(r"client\.([a-z]+)_([a-zA-Z]+)\(", source)}
    assert methods, "no Web API calls found: the pattern is out of date"
    assert methods <= set(SCOPE_OF), methods - set(SCOPE_OF)
    needed = with_companions({SCOPE_OF[m] for m in methods}) - {None}
    assert needed | {"commands"} <= bot_scopes(manifest())


def test_scopes_are_exactly_what_the_bot_uses(rig: Rig) -> None:
    """A whole flow (file, approve, DM, refusals, providers, form) needs no scope the
    manifest lacks, and the manifest asks for none it does not need."""
    rid = rig.file("alice", "flags tom@example.com new laptop")
    rig.approve("bob", rid)
    succeeded(rig, rid)
    rig.say("dan", "providers")
    rig.say("ada", "roles grant <!subteam^S0MANAGERS|@managers> approver")
    rig.say("dan", "pending")
    rig.file_by_form("alice", "community", "tom@example.com", "locked out")
    rig.settle()
    rig.worker.notifier.ephemeral("C0SUPPORT", "U0ALICE", "ephemerals are used too")

    called = {c.method for c in rig.standin.calls} - NOT_WEB_API
    unknown = called - set(SCOPE_OF)
    assert not unknown, f"add these methods and their scopes to SCOPE_OF: {unknown}"
    needed = with_companions({SCOPE_OF[m] for m in called}) - {None}
    assert bot_scopes(manifest()) == needed | {"commands"}
