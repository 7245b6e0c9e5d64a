"""A pending request nobody decides: one reminder naming who can, then one escalated copy with
working buttons, kept up to date like the original; once each, whoever sweeps."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.domain import roles
from bot.domain.upkeep import Upkeep
from bot.store.db import Store
from bot.store.models import RequestState, ResetRequest, Role
from tests.domain.domain_support import ADMIN, ALICE, BOB, CAROL, ERIN, Domain


def reminders(domain: Domain) -> list[tuple[str, str, str]]:
    return [s for s in domain.notifier.said if s[0] == "remind"]


def test_one_reminder_naming_who_can_decide(domain: Domain) -> None:
    view = domain.workflow.file(domain.draft(user="tom@x.com"), "C0SUPPORT")
    domain.clock.advance(minutes=14)
    domain.workflow.sweep()
    assert reminders(domain) == []
    domain.clock.advance(minutes=2)
    domain.workflow.sweep()
    domain.workflow.sweep()
    assert reminders(domain) == [("remind", view.id, ",".join(sorted([BOB, CAROL, ERIN])))]
    assert ADMIN not in reminders(domain)[0][2]  # the config's admins are named apart
    assert ALICE not in reminders(domain)[0][2]  # never the requester


def test_a_decided_request_is_not_reminded(domain: Domain) -> None:
    view = domain.workflow.file(domain.draft(user="tom@x.com"), "C0SUPPORT")
    domain.core.decisions.deny(view.id, BOB, "not today")
    domain.clock.advance(minutes=20)
    domain.workflow.sweep()
    assert reminders(domain) == []


def test_escalation_posts_one_copy_that_follows_the_decision(domain: Domain) -> None:
    view = domain.workflow.file(domain.draft(provider="escalating", user="tom@x.com"), "C0X")
    domain.clock.advance(minutes=31)
    domain.workflow.sweep()
    domain.workflow.sweep()
    copies = [s for s in domain.notifier.said if s[0] == "copy"]
    assert copies == [("copy", view.id, "C0ESCALATE")]
    stored = domain.core.queries.current(view.id)
    assert stored.copies == (("C0ESCALATE", f"copy-{view.id}", "escalation"),)
    domain.core.decisions.approve(view.id, CAROL)
    domain.workflow.after_decision(view.id, CAROL, quorum_met=True)
    assert ("update copy", view.id, RequestState.SUCCEEDED.value) in domain.notifier.said


def test_two_sweepers_at_once_remind_once(domain: Domain) -> None:
    """Two replicas' sweepers race for the same overdue request: one reminder."""
    view = domain.workflow.file(domain.draft(user="tom@x.com"), "C0SUPPORT")
    domain.clock.advance(minutes=16)
    upkeeps = [Upkeep(domain.core.ctx) for _ in range(2)]
    claimed: list[str] = []
    barrier = threading.Barrier(2)

    def sweep(upkeep: Upkeep) -> None:
        barrier.wait()
        claimed.extend(v.id for v, _ in upkeep.due_reminders())

    threads = [threading.Thread(target=sweep, args=(u,)) for u in upkeeps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert claimed == [view.id]


def test_zero_means_never(domain: Domain) -> None:
    domain.workflow.file(domain.draft(provider="silent", user="tom@x.com"), "C0X")
    domain.clock.advance(minutes=59)
    domain.workflow.sweep()
    assert reminders(domain) == []


def test_after_a_restart_nothing_is_sent_again(domain: Domain) -> None:
    """The reminder is stored: a new process (a fresh Upkeep) finds it sent."""
    view = domain.workflow.file(domain.draft(user="tom@x.com"), "C0SUPPORT")
    domain.clock.advance(minutes=16)
    assert [v.id for v, _ in domain.upkeep.due_reminders()] == [view.id]
    assert Upkeep(domain.core.ctx).due_reminders() == []


def test_an_empty_group_leaves_only_the_admins(domain: Domain) -> None:
    """Approvers only through a group that became empty: the reminder names nobody."""
    domain.core.role_admin.grant(ADMIN, "S0MANAGERS", Role.APPROVER, "edge")
    domain.teams.groups["S0MANAGERS"][1].clear()
    with domain.core.store.session() as tx:  # nobody else decides for "edge"
        for user in (BOB, CAROL):
            roles.revoke(tx, ADMIN, user, Role.APPROVER, None)
    view = domain.workflow.file(domain.draft(provider="edge", user="tom@x.com"), "C0SUPPORT")
    domain.clock.advance(minutes=16)
    [(reminded, deciders)] = domain.upkeep.due_reminders()
    assert reminded.id == view.id and deciders == []


@pytest.mark.postgres
def test_two_replicas_on_postgresql_remind_once(pg_url: str, domain: Domain) -> None:
    """Two sweepers on one PostgreSQL database claim an overdue request: one wins."""
    from bot.store.migrate import upgrade

    upgrade(pg_url)
    settings = domain.core.settings.model_copy(update={"database_url": pg_url})
    stores = [Store(pg_url) for _ in range(2)]
    try:
        contexts = [replace(domain.core.ctx, settings=settings, store=store) for store in stores]
        with stores[0].session() as tx:
            tx.add(
                ResetRequest(
                    id="RPGTEST2",
                    requester_id=ALICE,
                    provider="flags",
                    action="reset",
                    target_input="tom@x.com",
                    target_id="tom",
                    reason="locked out",
                    created_at=domain.clock() - timedelta(minutes=20),
                    expires_at=domain.clock() + timedelta(minutes=40),
                )
            )
        claimed: list[str] = []
        barrier = threading.Barrier(2)

        def sweep(upkeep: Upkeep) -> None:
            barrier.wait()
            claimed.extend(v.id for v, _ in upkeep.due_reminders())

        threads = [threading.Thread(target=sweep, args=(Upkeep(c),)) for c in contexts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert claimed == ["RPGTEST2"]
    finally:
        for store in stores:
            store.dispose()
