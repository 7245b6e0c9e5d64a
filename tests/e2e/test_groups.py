"""A user group as approvers, over signed HTTP: members decide, checked when they do; a
removed member loses the right within the cache time; a failed check refuses."""

from __future__ import annotations

from bot.demo.rig import MANAGERS, Rig
from bot.slack.teams import SlackTeams
from bot.store.models import RequestState
from tests.e2e.e2e_support import last_ephemeral, succeeded


def grant_managers(rig: Rig) -> None:
    rig.say("ada", "roles grant <!subteam^S0MANAGERS|@managers> approver")
    rig.say("ada", "roles list")
    listed = str(rig.standin.calls_to("response_url")[-1].params)
    assert "<!subteam^S0MANAGERS> approver for all providers" in listed


def teams(rig: Rig) -> SlackTeams:
    found = rig.web.core.ctx.teams
    assert isinstance(found, SlackTeams)
    return found


def test_a_group_member_approves(rig: Rig) -> None:
    grant_managers(rig)
    rid = rig.file("alice", "community tom@example.com locked out")
    rig.approve("dan", rid)
    succeeded(rig, rid)


def test_a_removed_member_is_refused(rig: Rig) -> None:
    grant_managers(rig)
    rid = rig.file("alice", "community tom@example.com locked out")
    rig.standin.set_usergroup_members(MANAGERS, set())
    teams(rig).ttl = 0  # the cache time, passed
    rig.click("dan", rid, "approve")
    rig.settle()
    assert "approver role" in last_ephemeral(rig, "dan")
    assert rig.request(rid).state is RequestState.PENDING


def test_a_failed_membership_check_refuses(rig: Rig) -> None:
    grant_managers(rig)
    rid = rig.file("alice", "community tom@example.com locked out")
    teams(rig).ttl = 0
    rig.standin.fail_next("usergroups.users.list", "ratelimited", times=5)
    rig.click("dan", rid, "approve")
    rig.settle()
    assert "could not check your user group membership" in last_ephemeral(rig, "dan")
    assert rig.request(rid).state is RequestState.PENDING


def test_an_unknown_group_cannot_be_granted(rig: Rig) -> None:
    rig.say("ada", "roles grant S0NOPE approver")
    answer = str(rig.standin.calls_to("response_url")[-1].params)
    assert "no user group S0NOPE" in answer


def test_a_group_gets_only_the_approver_role(rig: Rig) -> None:
    rig.say("ada", "roles grant <!subteam^S0MANAGERS|@managers> admin")
    answer = str(rig.standin.calls_to("response_url")[-1].params)
    assert "only be granted the approver role" in answer


def test_a_plain_handle_is_refused_with_what_to_type(rig: Rig) -> None:
    """A plain @managers could be a person or a group: Slack's own mention says which."""
    rig.say("ada", "roles grant @managers approver")
    assert "pick @name from Slack's list" in str(rig.standin.calls_to("ack")[-1].params)
