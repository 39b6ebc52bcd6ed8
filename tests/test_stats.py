"""Program statistics: k-anonymity at the boundary, secondary suppression, the outputs, the
chart, `peerline stats` on a real database and /stats for coordinators."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from bot import stats
from bot.catalog import EN
from bot.cli import main
from bot.model import Category, Role
from bot.sandbox.harness import Sandbox
from bot.stats_chart import BAR, HIDDEN, render_chart
from bot.storage.repository import Repository, RequestMetrics
from crypto import Vault, load_master_key
from tests.test_e2e_threads import connect

WEEK = date(2026, 11, 2)  # a Monday
TOPICS = [c.value for c in Category]


def rows(
    week: date,
    count: int,
    category: str = "stress",
    *,
    met_goal: bool = True,
    asker: str = "officer",
    **extra: bool,
) -> list[stats.MetricRow]:
    return [
        stats.MetricRow(
            week=week,
            category=category,
            urgent=False,
            matched=True,
            secs_to_status=0.0,
            secs_to_accept=60.0 * (i + 1),
            met_goal=met_goal,
            asker=asker,
            **extra,
        )
        for i in range(count)
    ]


def test_a_count_of_k_minus_one_is_hidden_and_k_is_shown() -> None:
    below = stats.build(stats.Inputs(rows(WEEK, 4)), TOPICS, k=5)
    at = stats.build(stats.Inputs(rows(WEEK, 5)), TOPICS, k=5)
    (line,) = below.weeks
    assert line.requests is None and line.matched is None
    assert line.human_p50_s is None and line.within_goal is None  # a group under k: no times
    assert below.topics.get(WEEK.isoformat(), "stress") is None
    (shown,) = at.weeks
    assert shown.requests == 5 and shown.matched == 5
    assert shown.human_p50_s == 180.0 and shown.human_p90_s == 300.0 and shown.within_goal == 1
    assert at.topics.get(WEEK.isoformat(), "stress") == 5
    assert at.topics.get(WEEK.isoformat(), "alcohol") == 0  # zero tells nothing: shown


def test_a_hidden_cell_cannot_be_worked_out_from_the_total() -> None:
    data = rows(WEEK, 7, "stress") + rows(WEEK, 2, "alcohol") + rows(WEEK, 6, "other")
    report = stats.build(stats.Inputs(data), TOPICS, k=5)
    week = WEEK.isoformat()
    assert report.topics.get(week, "alcohol") is None
    # 15 total - 7 - 6 would give the 2 away: a second cell of the row is hidden too.
    shown = [c for c in report.topics.cells[0] if c is not None]
    assert report.topics.get(week, stats.TOTAL) is None or len(shown) < len(TOPICS)
    hidden_in_row = sum(c is None for c in report.topics.cells[0])
    assert hidden_in_row >= 2


@given(
    st.lists(
        st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=5),
        min_size=1,
        max_size=5,
    ).filter(lambda g: len({len(r) for r in g}) == 1),
    st.integers(min_value=2, max_value=6),
)
def test_no_line_ever_has_exactly_one_hidden_cell(body: list[list[int]], k: int) -> None:
    names = [str(i) for i in range(len(body[0]))]
    counts = {(str(r), str(c)): v for r, line in enumerate(body) for c, v in enumerate(line)}
    table = stats.grid([str(r) for r in range(len(body))], names, counts, k)
    lines = [list(row) for row in table.cells]
    lines += [[row[c] for row in table.cells] for c in range(len(table.columns))]
    for line in lines:
        assert sum(cell is None for cell in line) != 1
    for row in table.cells:
        for cell in row:
            assert cell is None or not stats.suppressed(cell, k)


def test_ratings_followups_and_load_are_suppressed_too() -> None:
    inputs = stats.Inputs(
        rows(WEEK, 5),
        ratings=[(5, "yes")] * 6 + [(1, "no")],
        followups={("stress", 1, "better"): 9, ("stress", 1, "worse"): 1},
        helper_loads=[0] * 8 + [1] * 5 + [2],
        cooling_down=3,
    )
    report = stats.build(inputs, TOPICS, k=5)
    assert report.ratings.get("ratings", "1") is None
    # 7 - 6 would give the 1 away: the smaller of the two is hidden as well.
    assert report.ratings.get("ratings", "5") is None
    assert report.ratings.get("ratings", stats.TOTAL) == 7
    assert report.followups.get("stress 1", "worse") is None
    assert report.followups.get("stress 1", "better") is None
    assert report.load.get("helpers", "2") is None  # the one helper carrying two
    assert report.load.get("helpers", "0") == 8
    assert report.cooling_down is None


def sample_report(*, with_a_small_week: bool = True) -> stats.Report:
    data: list[stats.MetricRow] = []
    for index, count in enumerate((12, 3, 9, 15, 7, 0)):
        week = WEEK + timedelta(weeks=index)
        data += rows(week, count, "stress", widened=index == 3)
        data += rows(week, 5, "critical_incident", met_goal=index % 2 == 0)
    if with_a_small_week:
        data += rows(WEEK + timedelta(weeks=6), 3, "alcohol")
    return stats.build(stats.Inputs(data, ratings=[(4, "yes")] * 5), TOPICS, k=5)


def test_table_csv_and_json_say_the_same_and_never_show_a_small_count() -> None:
    report = sample_report()
    table = stats.to_table(report, {"stress": "Stress or burnout"})
    assert "Stress or burnout" in table and " x " in table
    document = json.loads(stats.to_json_text(report))
    assert document["k"] == 5
    # The week of 3 is hidden, and so is the week of 5: the total would give the 3 away.
    assert [w["requests"] for w in document["weeks"]] == [17, 8, 14, 20, 12, None, None]
    assert document["weeks"][3]["widened"] == 15
    parsed = list(csv.DictReader(io.StringIO(stats.to_csv(report))))
    values = {(r["section"], r["row"], r["column"]): r["value"] for r in parsed}
    assert values[("topics", (WEEK + timedelta(weeks=1)).isoformat(), "stress")] == "x"
    assert values[("weeks", WEEK.isoformat(), "requests")] == "17"
    for row in parsed:
        a_count = row["section"] != "weeks" or row["column"] in ("requests", "matched", "paged")
        if a_count and row["value"].isdigit():
            assert not stats.suppressed(int(row["value"]), 5), row


def _pixels(path: Path) -> dict[object, int]:
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (1200, 700)
        return {colour: n for n, colour in image.convert("RGB").getcolors(1_000_000) or []}


def test_the_chart_renders(tmp_path: Path) -> None:
    drawn = _pixels(render_chart(sample_report(), tmp_path / "chart.png", title="Metro"))
    plain = _pixels(render_chart(sample_report(with_a_small_week=False), tmp_path / "plain.png"))
    assert drawn[_rgb(BAR)] > 20_000  # the bars
    # The week of 3 is drawn as a grey outline labelled x, and only in the first chart.
    assert drawn.get(_rgb(HIDDEN), 0) > 300 > plain.get(_rgb(HIDDEN), 0)


def test_an_empty_chart_still_renders(tmp_path: Path) -> None:
    empty = stats.build(stats.Inputs([]), TOPICS, k=5)
    with Image.open(render_chart(empty, tmp_path / "empty.png")) as image:
        assert image.size == (1200, 700)


def _rgb(colour: str) -> tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


# -- the command and the chat command ------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.delenv("PEERLINE_MASTER_KEY", raising=False)
    monkeypatch.delenv("PEERLINE_CONFIG", raising=False)
    path = tmp_path / "config.toml"
    path.write_text(
        '[program]\nstats_k = 3\n[storage]\npath = "peerline.db"\n'
        '[crypto]\nkey_file = "master.key"\n',
        encoding="utf-8",
    )
    assert main(["--config", str(path), "keygen"]) == 0
    return path


def _seed(config: Path, day: date, count: int) -> None:
    async def go() -> None:
        key = load_master_key(config.parent / "master.key")
        repo = await Repository.open(config.parent / "peerline.db", Vault(key))
        for i in range(count):
            await repo.record_metrics(
                RequestMetrics(
                    day,
                    Category.STRESS,
                    urgent=False,
                    outcome="matched",
                    secs_to_status=0.0,
                    secs_to_first_offer=0.0,
                    secs_to_accept=90.0 + i,
                    met_goal=True,
                    paged=i == 0,
                )
            )
        await repo.close()

    asyncio.run(go())


def test_peerline_stats_writes_csv_json_and_a_chart(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(config_file, date(2026, 11, 4), 5)  # a Wednesday: the week of Monday 2 November
    _seed(config_file, date(2026, 11, 10), 2)
    _seed(config_file, date(2026, 11, 16), 4)
    base = ["--config", str(config_file), "stats"]
    assert main(base) == 0
    table = capsys.readouterr().out
    assert "2026-11-02" in table and "x = hidden: under 3" in table
    assert main([*base, "--format", "json", "--output", str(tmp_path / "s.json")]) == 0
    document = json.loads((tmp_path / "s.json").read_text())
    # 2 is under k = 3; then 4 is hidden too, or 11 - 5 - 4 would give the 2 away.
    assert [(w["week"], w["requests"], w["paged"]) for w in document["weeks"]] == [
        ("2026-11-02", 5, None),
        ("2026-11-09", None, None),
        ("2026-11-16", None, None),
    ]
    assert document["topics"]["cells"][-1][-1] == 11
    assert main([*base, "--format", "csv", "--k", "5", "--chart", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "weeks,2026-11-02,requests,5" in out and "weeks,2026-11-09,requests,x" in out
    with Image.open(tmp_path / "c.png") as image:
        assert image.format == "PNG"
    assert main([*base, "--chart", str(tmp_path / "c.jpg")]) == 2


async def test_stats_in_chat_is_for_coordinators_only(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    await connect(sandbox, officer, peer)
    await officer.send("/end")
    await officer.wait_for(EN.rate_prompt)
    await peer.send("/stats")
    await peer.wait_for(EN.coordinators_only)
    await coordinator.send("/stats")
    numbers = await coordinator.wait_for("Program numbers")
    # One request this week: under k, so it shows as x, never as 1.
    assert "1 requests" not in numbers.text and "x requests" in numbers.text
    assert "Dana" not in numbers.text and "Alex" not in numbers.text
