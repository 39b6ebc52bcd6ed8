"""Smoke test of the routing-at-scale bench (bench/routing_scale.py): tiny sizes, no timing."""

from __future__ import annotations

import random

import pytest

from bench.routing_scale import build_decisions, build_roster, main
from bot.model import Role


def test_the_roster_is_a_mix() -> None:
    helpers = build_roster(400, random.Random(3))  # noqa: S311 - a seeded roster, no secret
    assert {h.role for h in helpers} == {Role.PEER, Role.CHAPLAIN, Role.CLINICIAN}
    assert any(h.on_call is not None for h in helpers)
    assert any(h.available for h in helpers)
    assert len({h.agency_hash for h in helpers}) > 20
    decisions = build_decisions(helpers, 200, random.Random(4))  # noqa: S311 - as above
    assert any(d.urgent for d in decisions)
    assert any(d.query.request.conflicts for d in decisions)


def test_the_bench_runs_and_the_index_agrees_with_the_naive_filter(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Every decision also goes through the naive filter; a different batch raises.
    args = ["--helpers", "300", "--decisions", "150", "--naive-decisions", "150"]
    assert main([*args, "--db-helpers", "20", "--db-decisions", "4", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "the first 150 decisions: the same batches" in out
    # The decisions as the app makes them (urgent: the default cap), and urgent uncapped apart.
    assert "urgent: its first 70 (urgent_offers = 70)" in out
    assert "urgent uncapped (urgent_offers = 0): everyone" in out
    assert "app path, 20 members in SQLite" in out
    # 20 helpers and the officer read at the first step, then the one helper offered after each.
    assert "member rows read (and verified) for the helpers: 24, of which 1" in out
    assert "Roster.updated (when the helpers changed)    |     3 |" in out
