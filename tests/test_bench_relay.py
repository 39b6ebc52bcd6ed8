"""Smoke tests of the relay benchmarks (bench/bare_relay.py, relay_vs_bare.py, relay_scale.py,
signal_bare_relay.py, signal_relay_vs_bare.py) at tiny sizes, so that they cannot rot: each
runs end to end over HTTP on 127.0.0.1 and reports figures that add up. No timing thresholds:
speed belongs in the benchmarks themselves."""

from __future__ import annotations

import math

import pytest

from bench import bare_relay, relay_scale, relay_vs_bare, signal_bare_relay, signal_relay_vs_bare
from bench.bare_relay import Measured


@pytest.fixture(autouse=True)
def _fork(monkeypatch: pytest.MonkeyPatch) -> None:
    # Forked children start at once from what this process has loaded (spawn re-imports).
    monkeypatch.setenv("PEERLINE_BENCH_START", "fork")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def assert_sane(run: Measured, messages: int, send: str = "sendMessage") -> None:
    phase = run.phase
    assert phase.messages == messages
    assert len(phase.latencies) == messages  # every text relayed, each timed once
    assert all(0 < latency < 120 for latency in phase.latencies)
    assert phase.requests.get(send) == messages  # one copy each, nothing doubled
    assert (phase.doubled, phase.misplaced, phase.out_of_order) == (0, 0, 0)
    assert phase.exactly_once_in_order
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


SIGNAL_SEND = "POST /v2/send"


def test_the_bare_signalbot_relay_relays_every_text() -> None:
    run = signal_bare_relay.main(["--threads", "2", "--texts", "3"])
    assert_sane(run, 6, SIGNAL_SEND)
    assert run.phase.requests == {SIGNAL_SEND: 6}  # a bare relay asks nothing else


def test_peerline_and_the_bare_signalbot_relay_side_by_side() -> None:
    results = signal_relay_vs_bare.main(
        [
            "--threads", "2", "--texts", "3", "--rounds", "2",
            "--steady-rate", "20", "--steady-seconds", "0.3",
            "--default-threads", "2", "--default-texts", "2",
            "--default-rate", "4", "--default-seconds", "0.5",
        ]
    )  # fmt: skip
    assert [r.bare_first for r in results.rounds] == [True, False]  # the order alternates
    for round_ in results.rounds:
        assert [r.label for r in round_.bare] == [signal_relay_vs_bare.BARE] * 2
        assert [r.label for r in round_.peerline] == [signal_relay_vs_bare.OURS] * 2
        for burst, steady in (round_.bare, round_.peerline):
            assert_sane(burst, 6, SIGNAL_SEND)
            assert_sane(steady, 6, SIGNAL_SEND)
        assert round_.ratio == round_.peerline[0].phase.rate / round_.bare[0].phase.rate
        assert math.isfinite(round_.added(0.99))
    labels = [r.label for r in results.at_default_pace]
    assert labels == [signal_relay_vs_bare.BARE] * 2 + [signal_relay_vs_bare.OURS_DEFAULT] * 2
    bare_burst, bare_steady, ours_burst, ours_steady = results.at_default_pace
    for burst, steady in ((bare_burst, bare_steady), (ours_burst, ours_steady)):
        assert_sane(burst, 4, SIGNAL_SEND)
        assert_sane(steady, 2, SIGNAL_SEND)
