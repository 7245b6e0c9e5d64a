"""Provider faults at every step, through the whole Slack flow: the right state, a clear message,
and retries only where the provider certainly did not act (counted at the sandbox)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from bot.demo.rig import INSTANCES, Rig
from bot.store.models import RequestState
from tests.reliability.reliability_support import count

KINDS = {kind: name for name, kind in INSTANCES.items()}  # kind → the rig's instance name
RETRIES = 1  # the rig's max_retries: a retryable fault is tried 1 + RETRIES times
TIMEOUT = 1.0


@dataclass(frozen=True)
class Fault:
    name: str
    status: int | None = None
    fault: str | None = None
    headers: dict[str, str] | None = None
    retryable: bool = False  # the provider certainly did not act: the client may repeat it
    unknown: bool = False  # for an action: it may have happened

    def inject(self, rig: Rig, instance: str, step: str) -> None:
        rig.sandbox(instance).inject(
            step,
            status=self.status,
            fault=self.fault,  # type: ignore[arg-type]
            headers=self.headers,
            times=None,
        )
        count("provider_faults")


FAULTS = [
    Fault("500", status=500, unknown=True),
    Fault("502", status=502, unknown=True),
    Fault("503", status=503, retryable=True),
    Fault("429 Retry-After", status=429, headers={"Retry-After": "1"}, retryable=True),
    Fault("429 no Retry-After", status=429, retryable=True),
    Fault("timeout", fault="timeout", unknown=True),
    Fault("reset", fault="reset", unknown=True),
    Fault("html", fault="html", unknown=True),
    Fault("invalid_json", fault="invalid_json", unknown=True),
    Fault("unexpected_body", fault="unexpected_body", unknown=True),
]


@pytest.fixture(scope="module")
def rigs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Rig]]:
    """One rig per provider kind, reused across faults (each case cleans up after itself)."""
    made: dict[str, Rig] = {}

    def get(kind: str) -> Rig:
        if kind not in made:
            name = KINDS[kind]
            made[kind] = Rig(
                tmp_path_factory.mktemp(kind),
                instances={name: kind},
                provider_options={name: {"timeout_seconds": TIMEOUT, "max_retries": RETRIES}},
            ).start()
        rig = made[kind]
        sandbox = rig.sandbox(KINDS[kind])
        sandbox.clear_faults()
        sandbox.clear_calls()
        sandbox.reset_rate_limits()
        sandbox.hold_seconds = TIMEOUT * 3
        return rig

    yield get
    for rig in made.values():
        rig.stop()
        assert rig.standin.violations == [], rig.standin.violations


def steps(rig: Rig, instance: str, step: str) -> int:
    return len([c for c in rig.sandbox(instance).calls if c.step == step])


def attempts_expected(fault: Fault, kind: str, step: str) -> int:
    if not fault.retryable:
        return 1
    # Unleash allows one reset per user per minute: its 429 on the reset is never waited out.
    if kind == "unleash" and step == "action" and fault.status == 429:
        return 1
    return 1 + RETRIES


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
class TestProviderFaults:
    def test_look_up_fault_files_nothing(
        self, rigs: Callable[[str], Rig], kind: str, fault: Fault
    ) -> None:
        """A failed look-up: nothing filed, the requester is told why, tries are bounded."""
        rig = rigs(kind)
        name = KINDS[kind]
        before = rig.request_ids()
        seen = len(rig.standin.ephemerals(user="U0ALICE"))
        fault.inject(rig, name, "lookup")
        started = time.monotonic()
        rig.say("alice", f"{name} tom@example.com locked out of the account")
        text = rig.wait(
            lambda: next(
                (
                    m.all_text()
                    for m in rig.standin.ephemerals(user="U0ALICE")[seen:]
                    if "Nothing was filed" in m.all_text()
                ),
                None,
            ),
            15,
            what="the answer to the requester",
        )
        elapsed = time.monotonic() - started
        rig.settle()
        assert ":warning:" in text, text
        assert rig.request_ids() == before
        assert steps(rig, name, "lookup") == attempts_expected(fault, kind, "lookup")
        assert steps(rig, name, "action") == 0
        assert rig.audit()[-1][1:] != ("request.filed", "pending")
        if fault.status == 429 and fault.headers:
            assert elapsed >= 1.0 * RETRIES, "Retry-After was not honoured"
        rig.sandbox(name).clear_faults()

    def test_action_fault_ends_failed_or_unknown(
        self, rigs: Callable[[str], Rig], kind: str, fault: Fault
    ) -> None:
        """A failed call: `failed` when the provider certainly did not act, else `unknown`;
        the message, the thread and the requester say so; the action is never repeated
        unless it certainly did not happen."""
        rig = rigs(kind)
        name = KINDS[kind]
        rid = rig.file("alice", f"{name} tom@example.com locked out of the account")
        fault.inject(rig, name, "action")
        started = time.monotonic()
        rig.approve("bob", rid)
        req = rig.wait_state(rid, timeout=20)
        elapsed = time.monotonic() - started
        expected = RequestState.UNKNOWN if fault.unknown else RequestState.FAILED
        assert req.state is expected, (req.state, req.outcome_message)
        message = req.outcome_message or ""
        if fault.unknown:
            assert "may or may not" in message or "verify" in message.lower(), message
        else:
            assert "nothing was done" in message.lower(), message
        assert steps(rig, name, "action") == attempts_expected(fault, kind, "action")
        shown = rig.approval_message(rid).all_text()
        assert ("Outcome unknown" if fault.unknown else "Failed") in shown, shown
        assert rig.approval_message(rid).buttons() == []
        assert any(rid in m.all_text() for m in rig.standin.dms(rig.user_id("alice")))
        assert ("system", f"request.{expected.value}", req.outcome_kind or "") in rig.audit(rid)
        if fault.status == 429 and fault.headers and attempts_expected(fault, kind, "action") > 1:
            assert elapsed >= 1.0 * RETRIES, "Retry-After was not honoured"
        rig.sandbox(name).clear_faults()


def test_a_transient_503_is_retried_once_and_succeeds(rigs: Callable[[str], Rig]) -> None:
    """One 503 on the action: the retry happens, the action happens once."""
    rig = rigs("f5xc")
    rid = rig.file("alice", "edge tom@example.com locked out of the account")
    rig.sandbox("edge").inject("action", status=503)
    count("provider_faults")
    rig.approve("bob", rid)
    assert rig.wait_state(rid).state is RequestState.SUCCEEDED
    assert [c.status for c in rig.sandbox("edge").action_calls()] == [503, 200]
