"""Shared fixtures: a whole Peerline against the local Bot API, on 127.0.0.1 only."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from bot.sandbox.harness import Sandbox

# The suite runs on a shared 2-core machine: a slow draw there is load, not a bad strategy.
settings.register_profile(
    "shared-machine", suppress_health_check=[HealthCheck.too_slow], deadline=None
)
settings.load_profile("shared-machine")

# httpx and websockets honour *_PROXY variables; the fakes are on loopback.
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ.pop("HTTP_PROXY", None)
os.environ.pop("HTTPS_PROXY", None)
os.environ.pop("ALL_PROXY", None)

# Property tests check rules, not speed: on a loaded 2-core machine Hypothesis' timing checks
# (a 200 ms deadline, "input generation is slow") fail runs that are otherwise correct.
settings.register_profile("peerline", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("peerline")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 24, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sandbox(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Sandbox]:
    box = Sandbox(tmp_path / "sandbox", clock=clock)
    await box.start()
    try:
        yield box
    finally:
        await box.stop()
