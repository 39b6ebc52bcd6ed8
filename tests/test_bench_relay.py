"""Smoke tests of the relay benchmarks (bench/bare_relay.py, relay_vs_bare.py, relay_scale.py)
at tiny sizes, so that they cannot rot: each runs end to end over HTTP on 127.0.0.1 and reports
figures that add up. No timing thresholds: speed belongs in the benchmarks themselves."""

from __future__ import annotations

import math

import pytest

from bench import bare_relay, relay_scale, relay_vs_bare
from bench.bare_relay import Measured


@pytest.fixture(autouse=True)
def _fork(monkeypatch: pytest.MonkeyPatch) -> None:
    # Forked children start at once from what this process has loaded (spawn re-imports).
    monkeypatch.setenv("PEERLINE_BENCH_START", "fork")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def assert_sane(run: Measured, messages: int) -> None:
    phase = run.phase
    assert phase.messages == messages
    assert len(phase.latencies) == messages  # every text relayed, each timed once
    assert all(0 < latency < 120 for latency in phase.latencies)
    assert phase.requests.get("sendMessage") == messages  # one copy each, nothing doubled
    assert 0 < phase.rate < math.inf
    assert run.cpu_seconds > 0
    assert run.requests_per_message >= 1


def test_the_bare_relay_relays_every_text_in_each_setting() -> None:
    runs = bare_relay.main(["--threads", "2", "--texts", "3"])
    assert [r.label for r in runs] == list(bare_relay.SETTINGS)
    for run in runs:
        assert_sane(run, 6)


def test_peerline_and_the_bare_relay_side_by_side() -> None:
    results = relay_vs_bare.main(
        [
            "--threads", "2", "--texts", "3",
            "--steady-rate", "20", "--steady-seconds", "0.3",
            "--cap-threads", "2", "--cap-loads", "0.5", "--cap-seconds", "0.3",
        ]
    )  # fmt: skip
    assert len(results.bare) == 3
    assert results.bare_aiohttp is not None
    assert_sane(results.bare_aiohttp, 6)
    assert results.peerline is not None
    assert_sane(results.peerline, 6)
    assert results.ratio == results.peerline.phase.rate / results.best_bare.phase.rate
    bare_steady, ours_steady = results.steady
    assert bare_steady.label == results.best_bare.label
    assert ours_steady.label.startswith("Peerline")
    for run in results.steady:
        assert_sane(run, 6)
    assert [r.label for r in results.at_cap] == ["default cap, 15/s", "cap lifted, 15/s"]
    for run in results.at_cap:
        assert_sane(run, 4)


def test_many_threads_in_one_process() -> None:
    run, peak = relay_scale.main(["--threads", "5", "--texts", "2"])
    assert_sane(run, 10)
    assert peak > 10  # MB: a real figure, not a placeholder
