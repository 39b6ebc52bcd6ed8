"""Smoke test of the follow-up benchmark (bench/followups.py) with tiny numbers: the figures
it reports come from a run in which every overdue nudge went out exactly once."""

from __future__ import annotations

from bench.followups import main


def test_the_benchmark_sends_each_overdue_nudge_once() -> None:
    figures = main(["--pending", "300", "--due", "40", "--members", "20"])
    assert figures.sent == 40
    assert figures.sent_again == 0
