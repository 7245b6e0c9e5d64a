"""A pending request nobody decides: one reminder naming who can, then one escalated copy with
working buttons, kept up to date like the original; once each, whoever sweeps."""

from __future__ import annotations

import threading

from bot.domain.upkeep import Upkeep
from bot.store.models import RequestState
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
    assert reminders(domain) == [("remind", view.id, ",".join(sorted([ADMIN, BOB, CAROL, ERIN])))]
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
