"""What follows each step, told through the Notifier port: the approval message, the provider
call at quorum (once), the secret's one route, and what the sweeper does."""

from __future__ import annotations

import pytest

from bot.domain.ports import NotPosted
from bot.store.models import RequestState
from tests.domain.domain_support import ALICE, BOB, CAROL, Domain


def test_filing_posts_the_approval_message_and_remembers_it(domain: Domain) -> None:
    view = domain.workflow.file(domain.draft(), "C0SUPPORT")
    assert domain.notifier.said == [("post", view.id, "pending")]
    stored = domain.core.queries.current(view.id)
    assert (stored.approval_channel, stored.approval_ts) == ("C0APPROVE", f"ts-{view.id}")


def test_a_request_whose_message_cannot_be_posted_is_abandoned(domain: Domain) -> None:
    """Nobody could decide it: it ends cancelled, and the account is not blocked."""
    domain.notifier.fail_post = True
    with pytest.raises(NotPosted):
        domain.workflow.file(domain.draft(), "C0SUPPORT")
    domain.notifier.fail_post = False
    again = domain.workflow.file(domain.draft(), "C0SUPPORT")
    assert again.state is RequestState.PENDING


def test_quorum_calls_the_provider_once_and_tells_everyone(domain: Domain) -> None:
    view = domain.workflow.file(domain.draft(provider="pair"), "C0SUPPORT")
    domain.core.decisions.approve(view.id, BOB)
    domain.workflow.after_decision(view.id, BOB, quorum_met=False)
    assert domain.providers["pair"].performed == []
    domain.core.decisions.approve(view.id, CAROL)
    domain.workflow.after_decision(view.id, CAROL, quorum_met=True)
    domain.workflow.dispatch(view.id)  # a second click, a replica, the sweeper
    assert domain.providers["pair"].performed == [("reset", "tom")]
    assert domain.core.queries.current(view.id).state is RequestState.SUCCEEDED
    said = domain.notifier.said
    assert ("approved by", view.id, CAROL) in said
    assert ("tell", ALICE, "succeeded") in said
    assert said[-1] == ("outcome", view.id, "succeeded")


def test_a_secret_goes_only_to_the_requester(domain: Domain) -> None:
    view = domain.workflow.file(domain.draft(provider="links"), "C0SUPPORT")
    domain.core.decisions.approve(view.id, BOB)
    domain.workflow.after_decision(view.id, BOB, quorum_met=True)
    assert domain.notifier.secrets == [(ALICE, "https://u.test/reset/SECRET-TOKEN")]
    assert not [s for s in domain.notifier.said if "SECRET" in str(s)]
    stored = domain.core.queries.current(view.id)
    assert "SECRET" not in (stored.outcome_message or "")


def test_a_denial_is_told_and_never_dispatched(domain: Domain) -> None:
    view = domain.workflow.file(domain.draft(), "C0SUPPORT")
    domain.core.decisions.deny(view.id, BOB, "not today")
    domain.workflow.after_decision(view.id, BOB, quorum_met=False)
    domain.workflow.dispatch(view.id)
    assert domain.providers["flags"].performed == []
    assert ("tell", ALICE, "denied") in domain.notifier.said


def test_the_sweeper_expires_and_tells(domain: Domain) -> None:
    view = domain.workflow.file(domain.draft(), "C0SUPPORT")
    domain.clock.advance(minutes=61)
    domain.workflow.sweep()
    assert domain.core.queries.current(view.id).state is RequestState.EXPIRED
    assert ("update", view.id, "expired") in domain.notifier.said
    assert ("tell", ALICE, "expired") in domain.notifier.said
    assert not domain.core.queries.current(view.id).message_stale


def test_the_sweeper_dispatches_an_approval_a_crash_left_behind(domain: Domain) -> None:
    """Approved, never started (the process died between the two): the provider was certainly
    not called, so the sweeper calls it, once."""
    view = domain.workflow.file(domain.draft(), "C0SUPPORT")
    domain.core.decisions.approve(view.id, BOB)
    domain.clock.advance(seconds=31)
    domain.workflow.sweep()
    domain.workflow.sweep()
    assert domain.providers["flags"].performed == [("reset", "tom")]


def test_a_decision_racing_a_refresh_leaves_the_message_current(domain: Domain) -> None:
    """An update rendered from an older view can reach Slack last: the refresh reads the
    request again and renders it again, so the message ends showing what the store holds."""
    view = domain.workflow.file(domain.draft(), "C0SUPPORT")

    def deny() -> None:
        domain.core.decisions.deny(view.id, BOB, "not today")

    domain.notifier.during_update = deny
    domain.workflow.refresh(view)  # renders "pending" while the denial lands
    updates = [s for s in domain.notifier.said if s[0] == "update"]
    assert updates[-1] == ("update", view.id, "denied")
    assert not domain.core.queries.current(view.id).message_stale
