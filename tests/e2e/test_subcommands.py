"""help, status, cancel, pending, providers and roles — each answers the person who asked."""

from __future__ import annotations

from bot.demo.rig import Rig
from bot.store.models import RequestState
from tests.e2e.e2e_support import last_ephemeral, succeeded


def answer(rig: Rig, user: str, text: str) -> str:
    response = rig.say(user, text)
    assert response.status_code == 200
    return last_ephemeral(rig, user)


class TestHelp:
    def test_help_lists_subcommands_and_providers(self, rig: Rig) -> None:
        text = answer(rig, "dan", "help")
        for word in ("status", "cancel", "pending", "providers", "roles"):
            assert word in text
        for name in ("community", "flags", "edge", "gateway"):
            assert name in text


class TestStatus:
    def test_status_of_one_request_and_of_mine(self, rig: Rig) -> None:
        rid = rig.file("alice", "community tom@example.com locked out")
        text = answer(rig, "alice", f"status {rid}")
        assert rid in text and "Waiting for approval" in text
        assert rid in answer(rig, "alice", "status")
        rig.approve("bob", rid)
        succeeded(rig, rid)
        assert "Done" in answer(rig, "alice", f"status {rid.lower()}")

    def test_status_hides_other_peoples_requests(self, rig: Rig) -> None:
        rid = rig.file("alice", "community tom@example.com locked out")
        text = answer(rig, "dan", f"status {rid}")
        assert "no request" in text.lower() and "Tom" not in text
        assert "no requests" in answer(rig, "dan", "status").lower()


class TestPending:
    def test_pending_shows_what_each_approver_may_decide(self, rig: Rig) -> None:
        community = rig.file("alice", "community tom@example.com locked out")
        flags = rig.file("alice", "flags tom@example.com locked out")
        bob = answer(rig, "bob", "pending")
        assert community in bob and flags in bob
        erin = answer(rig, "erin", "pending")
        assert flags in erin and community not in erin
        assert "Nothing is waiting" in answer(rig, "dan", "pending")


class TestProviders:
    def test_credential_checks(self, rig: Rig) -> None:
        """Each instance is listed with whether its credentials work; a bad token shows."""
        rig.sandbox("edge").inject("check", status=401, times=None)
        rig.say("dan", "providers")
        rig.wait(
            lambda: "Configured providers" in last_ephemeral(rig, "dan"), what="the provider list"
        )
        text = last_ephemeral(rig, "dan")
        lines = {line.split("`")[1]: line for line in text.splitlines() if "`" in line}
        assert set(lines) == {"community", "flags", "edge", "gateway"}
        assert lines["edge"].startswith(":x:")
        for name in ("community", "flags", "gateway"):
            assert lines[name].startswith(":white_check_mark:"), lines[name]
        assert "allow" in lines["gateway"] and "revoke" in lines["gateway"]


class TestRoles:
    def test_admin_grants_lists_and_revokes(self, rig: Rig) -> None:
        assert "granted" in answer(rig, "ada", "roles grant <@U0DAN|dan> requester community")
        listed = answer(rig, "ada", "roles list <@U0DAN>")
        assert "<@U0DAN>" in listed and "requester" in listed and "community" in listed
        everyone = answer(rig, "ada", "roles list")
        assert "<@U0ADA> admin (from config)" in everyone and "<@U0BOB>" in everyone

        rid = rig.file("dan", "community tom@example.com locked out")  # the grant works
        assert rig.request(rid).state is RequestState.PENDING
        rig.say("dan", "flags tom@example.com locked out")  # only for community
        assert "requester role" in last_ephemeral(rig, "dan")

        assert "revoked" in answer(rig, "ada", "roles revoke <@U0DAN> requester community")
        assert "did not have" in answer(rig, "ada", "roles revoke <@U0DAN> requester community")
        actions = [a for actor, a, _ in rig.audit() if actor == "U0ADA"]
        assert "role.revoked" in actions

    def test_only_admins(self, rig: Rig) -> None:
        for text in (
            "roles grant <@U0DAN> approver",
            "roles revoke <@U0BOB> approver",
            "roles list",
        ):
            assert "Only admins" in answer(rig, "bob", text)
        assert "<@U0DAN>" not in answer(rig, "ada", "roles list")

    def test_bad_usage_explains(self, rig: Rig) -> None:
        assert "not a role" in answer(rig, "ada", "roles grant <@U0DAN> boss")
        assert "Usage" in answer(rig, "ada", "roles grant dan")
        assert "no provider" in answer(rig, "ada", "roles grant <@U0DAN> approver crm")
