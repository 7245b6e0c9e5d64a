"""The replay check's memory: a delivery seen within Slack's window is refused, an expired one
is forgotten, and what is remembered is only what has not expired."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.store import deliveries


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    fake = FakeClock()
    monkeypatch.setattr(deliveries, "_clock", fake)
    deliveries.forget()
    yield fake
    deliveries.forget()


def test_a_replay_within_the_window_is_refused(clock: FakeClock) -> None:
    assert deliveries.first_here(["t:1", "b:1"])
    clock.now += 299
    assert not deliveries.first_here(["t:1", "b:other"])  # same trigger
    assert not deliveries.first_here(["t:other", "b:1"])  # same body and timestamp
    assert deliveries.first_here(["t:2", "b:2"])


def test_expired_keys_are_forgotten_as_time_passes(clock: FakeClock) -> None:
    keep = deliveries.KEEP.total_seconds()
    for n in range(3000):
        assert deliveries.first_here([f"t:{n}"])
        clock.now += 1
    # Only the keys seen within KEEP are remembered (not "until some count is reached").
    assert keep - deliveries.BUCKET <= deliveries.remembered() <= keep + 1
    assert deliveries.first_here(["t:0"])  # long expired: a new delivery
    assert not deliveries.first_here([f"t:{2999}"])
