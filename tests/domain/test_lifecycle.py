"""The transition table: every legal row moves a request and leaves its audit row; every other
event leaves the request where it was."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.domain import lifecycle
from bot.domain.lifecycle import TRANSITIONS, AuditAction, Event, IllegalTransition
from bot.store.db import Store
from bot.store.models import AuditEvent, RequestState, ResetRequest, utcnow
from tests.domain.domain_support import Domain

ALL = [(state, event) for state in RequestState for event in Event]


def put(store: Store, state: RequestState) -> str:
    with store.session() as tx:
        tx.add(
            ResetRequest(
                id="RTEST234",
                requester_id="U0ALICE",
                provider="flags",
                action="reset",
                target_input="tom@x.com",
                target_id="tom",
                reason="locked out",
                state=state,
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
    return "RTEST234"


def audit_actions(store: Store) -> list[str]:
    with store.reading() as tx:
        query = select(AuditEvent.action).where(AuditEvent.request_id == "RTEST234")
        return list(tx.scalars(query.order_by(AuditEvent.id)))


def state_of(store: Store, request_id: str) -> RequestState:
    with store.reading() as tx:
        request = tx.get(ResetRequest, request_id)
        assert request is not None
        return request.state


@pytest.mark.parametrize(("state", "event"), ALL, ids=lambda x: str(x.value))
def test_every_row_of_the_table(domain: Domain, state: RequestState, event: Event) -> None:
    """A legal event moves the request to the table's state and records it once; any other
    changes nothing and records nothing."""
    store = domain.core.store
    rid = put(store, state)
    with store.session() as tx:
        moved = lifecycle.move(tx, rid, event, actor="U0BOB")
    expected = TRANSITIONS.get((state, event))
    if expected is None:
        assert moved is None
        assert state_of(store, rid) is state
        assert audit_actions(store) == []
        with pytest.raises(IllegalTransition):
            lifecycle.next_state(state, event)
    else:
        assert moved is not None and moved.state is expected
        assert state_of(store, rid) is expected
        assert audit_actions(store) == [f"request.{expected.value}"]
        assert lifecycle.next_state(state, event) is expected


def test_a_second_move_by_the_same_event_loses(domain: Domain) -> None:
    """Two clicks, two replicas: the second compare-and-set finds the state gone."""
    store = domain.core.store
    rid = put(store, RequestState.PENDING)
    with store.session() as tx:
        assert lifecycle.move(tx, rid, Event.DENY, actor="U0BOB") is not None
    with store.session() as tx:
        assert lifecycle.move(tx, rid, Event.DENY, actor="U0CAROL") is None
    assert audit_actions(store) == ["request.denied"]


def test_final_states_have_no_way_out() -> None:
    for state in lifecycle.FINAL_STATES:
        assert not [e for (s, e) in TRANSITIONS if s is state]


def test_every_reachable_state_has_an_audit_action() -> None:
    actions = {a.value for a in AuditAction}
    for new in TRANSITIONS.values():
        assert f"request.{new.value}" in actions
