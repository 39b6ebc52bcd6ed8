"""Program statistics with k-anonymity: what a chief or funder may see, and nothing more.

Pure functions over numbers the database already keeps without any person in them (clock
metrics by week, ratings, follow-up answer counts) and over the current load of each helper
(counts only, no names). Every count from 1 to k-1 is suppressed, and so is a second cell of any
row or column in which exactly one was suppressed, so a hidden cell cannot be worked out from
a total. A time (percentile, share) is shown only for a group of at least k requests.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

DEFAULT_K = 5
TOTAL = "total"
COOL_DOWN, NOW, EARLIER = "helpers", "now", "earlier this week"
# Who asked, as groups (a helper asks for a debrief); the order the report shows them in.
ASKERS = ("officer", "family", "retiree", "helper")


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One request's clock, as stored: its week (Monday), topic and numbers, nobody's name."""

    week: date
    category: str
    urgent: bool
    matched: bool
    secs_to_status: float | None
    secs_to_accept: float | None
    met_goal: bool
    widened: bool = False
    paged: bool = False
    handover: bool = False
    referral: bool = False
    asker: str = "officer"


@dataclass(frozen=True, slots=True)
class Inputs:
    metrics: Sequence[MetricRow]
    ratings: Sequence[tuple[int | None, str | None]] = ()
    followups: Mapping[tuple[str, int, str], int] = field(default_factory=dict)
    helper_loads: Sequence[int] = ()  # live conversations of each active helper, no ids
    cooling_down: int = 0  # helpers resting after a heavy conversation, now
    # Helpers whose rest after a heavy conversation ended earlier this week (not resting now).
    rested_earlier: int = 0
    # One row per closed critical incident: its week (Monday), pages sent, pages accepted.
    incidents: Sequence[tuple[date, int, int]] = ()


Cell = int | None  # None: suppressed (fewer than k)


@dataclass(frozen=True, slots=True)
class Grid:
    """A table of counts with a total column and a total row; suppressed cells are None."""

    rows: tuple[str, ...]  # the last is TOTAL
    columns: tuple[str, ...]  # the last is TOTAL
    cells: tuple[tuple[Cell, ...], ...]

    def get(self, row: str, column: str) -> Cell:
        return self.cells[self.rows.index(row)][self.columns.index(column)]


@dataclass(frozen=True, slots=True)
class WeekLine:
    week: date
    requests: Cell
    matched: Cell
    status_p50_s: float | None
    human_p50_s: float | None
    human_p90_s: float | None
    within_goal: float | None  # share of all the week's requests
    widened: Cell
    paged: Cell
    handovers: Cell
    referrals: Cell


@dataclass(frozen=True, slots=True)
class Report:
    k: int
    weeks: tuple[WeekLine, ...]
    topics: Grid  # weeks x topics
    askers: Grid  # weeks x who asked (officer, family, retiree, helper)
    ratings: Grid  # one row: scores 1-5
    helped: Grid  # one row: yes / no / unsure
    followups: Grid  # plan step x answer
    load: Grid  # one row: helpers by live conversations now
    # One row: helpers resting after a heavy conversation now, earlier this week, and in all
    # this week (the total); suppressed like any table, so the two parts never give away
    # a hidden one.
    cool_down: Grid

    @property
    def cooling_down(self) -> Cell:
        return self.cool_down.get(COOL_DOWN, NOW)

    @property
    def cooled_this_week(self) -> Cell:
        return self.cool_down.get(COOL_DOWN, TOTAL)

    incidents: Grid  # weeks x (incidents, pages sent, pages accepted), no total column


def suppressed(value: int, k: int) -> bool:
    return 0 < value < k


def suppress_grid(counts: Sequence[Sequence[int]], k: int) -> list[list[Cell]]:
    """Primary suppression (1..k-1), then secondary: while any row or column (totals included)
    has exactly one hidden cell, also hide its smallest shown non-zero cell. `counts` already
    holds a total row and a total column as its last row and column."""
    hidden = [[suppressed(v, k) for v in row] for row in counts]
    n_rows, n_cols = len(counts), len(counts[0]) if counts else 0
    lines = [[(r, c) for c in range(n_cols)] for r in range(n_rows)]
    lines += [[(r, c) for r in range(n_rows)] for c in range(n_cols)]
    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(hidden[r][c] for r, c in line) != 1:
                continue
            shown = [(counts[r][c], r, c) for r, c in line if not hidden[r][c] and counts[r][c]]
            if shown:
                _, r, c = min(shown)
                hidden[r][c] = True
                changed = True
    return [[None if hidden[r][c] else counts[r][c] for c in range(n_cols)] for r in range(n_rows)]


def grid(
    rows: Sequence[str], columns: Sequence[str], counts: Mapping[tuple[str, str], int], k: int
) -> Grid:
    """A suppressed table of `counts` with totals added."""
    body = [[counts.get((r, c), 0) for c in columns] for r in rows]
    with_totals = [[*line, sum(line)] for line in body]
    column_totals = [sum(line[i] for line in with_totals) for i in range(len(columns) + 1)]
    with_totals.append(column_totals)
    return Grid(
        rows=(*rows, TOTAL),
        columns=(*columns, TOTAL),
        cells=tuple(tuple(line) for line in suppress_grid(with_totals, k)),
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def _count(value: int, k: int) -> Cell:
    return None if suppressed(value, k) else value


def _week_line(week: date, rows: Sequence[MetricRow], requests: Cell, k: int) -> WeekLine:
    if requests is None:
        # A week whose count is hidden (even by secondary suppression) shows nothing else:
        # its other counts and times would bound the hidden one.
        return WeekLine(week, None, None, None, None, None, None, None, None, None, None)
    accepted = [r.secs_to_accept for r in rows if r.secs_to_accept is not None]
    status = [r.secs_to_status for r in rows if r.secs_to_status is not None]
    return WeekLine(
        week=week,
        requests=requests,
        matched=_count(len(accepted), k),
        status_p50_s=percentile(status, 50) if len(status) >= k else None,
        human_p50_s=percentile(accepted, 50) if len(accepted) >= k else None,
        human_p90_s=percentile(accepted, 90) if len(accepted) >= k else None,
        within_goal=sum(r.met_goal for r in rows) / len(rows),  # len(rows) >= k: shown
        widened=_count(sum(r.widened for r in rows), k),
        paged=_count(sum(r.paged for r in rows), k),
        handovers=_count(sum(r.handover for r in rows), k),
        referrals=_count(sum(r.referral for r in rows), k),
    )


def build(inputs: Inputs, topics: Sequence[str], k: int = DEFAULT_K) -> Report:
    """The report. `topics`: every category in display order (so an empty one shows as 0)."""
    if k < 2:
        raise ValueError("k must be at least 2")
    by_week: dict[date, list[MetricRow]] = {}
    for row in inputs.metrics:
        by_week.setdefault(row.week, []).append(row)
    weeks = sorted(by_week)
    week_names = [w.isoformat() for w in weeks]
    topic_counts = Counter((r.week.isoformat(), r.category) for r in inputs.metrics)
    topic_grid = grid(week_names, list(topics), topic_counts, k)
    asker_counts = Counter((r.week.isoformat(), r.asker) for r in inputs.metrics)
    lines = tuple(
        _week_line(w, by_week[w], topic_grid.get(w.isoformat(), TOTAL), k) for w in weeks
    )
    scores = Counter(str(score) for score, _ in inputs.ratings if score is not None)
    helped = Counter(answer for _, answer in inputs.ratings if answer is not None)
    steps = sorted({(plan, step) for plan, step, _ in inputs.followups})
    answers = sorted({answer for _, _, answer in inputs.followups})
    followup_counts = {
        (f"{plan} {step}", answer): n for (plan, step, answer), n in inputs.followups.items()
    }
    load = Counter(str(n) for n in inputs.helper_loads)
    load_columns = [str(n) for n in range(max(inputs.helper_loads, default=0) + 1)]
    return Report(
        k=k,
        weeks=lines,
        topics=topic_grid,
        askers=grid(week_names, ASKERS, asker_counts, k),
        ratings=grid(["ratings"], ["1", "2", "3", "4", "5"], _one_row("ratings", scores), k),
        helped=grid(["helped"], ["yes", "no", "unsure"], _one_row("helped", helped), k),
        followups=grid([f"{p} {s}" for p, s in steps], answers, followup_counts, k),
        load=grid(["helpers"], load_columns, _one_row("helpers", load), k),
        cool_down=grid(
            [COOL_DOWN],
            [NOW, EARLIER],
            {(COOL_DOWN, NOW): inputs.cooling_down, (COOL_DOWN, EARLIER): inputs.rested_earlier},
            k,
        ),
        incidents=_incident_grid(inputs.incidents, k),
    )


INCIDENT_COLUMNS = ("incidents", "pages sent", "pages accepted")


def _incident_grid(rows: Sequence[tuple[date, int, int]], k: int) -> Grid:
    """Critical incidents by week. Suppressed with a total column, like every grid, which is
    then dropped: a sum of incidents and pages means nothing (dropping it hides nothing more)."""
    counts: Counter[tuple[str, str]] = Counter()
    for week, sent, accepted in rows:
        name = week.isoformat()
        counts[(name, "incidents")] += 1
        counts[(name, "pages sent")] += sent
        counts[(name, "pages accepted")] += accepted
    weeks = sorted({week.isoformat() for week, _, _ in rows})
    full = grid(weeks, INCIDENT_COLUMNS, counts, k)
    return Grid(full.rows, full.columns[:-1], tuple(line[:-1] for line in full.cells))


def _one_row(name: str, counts: Mapping[str, int]) -> dict[tuple[str, str], int]:
    return {(name, key): n for key, n in counts.items()}


# -- output ------------------------------------------------------------------------------------


HIDDEN = "x"  # fewer than k, or it would give such a cell away


def _cell_text(cell: Cell, k: int) -> str:
    return HIDDEN if cell is None else str(cell)


def _minutes(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _grid_lines(title: str, table: Grid, k: int, labels: Mapping[str, str]) -> list[str]:
    if len(table.rows) == 1:  # nothing but the total row: no data
        return [title, "  (none yet)"]
    names = [labels.get(c, c) for c in table.columns]
    first = max(len(r) for r in table.rows)
    widths = [max(len(n), 4) for n in names]
    out = [
        title,
        "  "
        + " " * first
        + "  "
        + "  ".join(n.rjust(w) for n, w in zip(names, widths, strict=True)),
    ]
    for row, cells in zip(table.rows, table.cells, strict=True):
        shown = [_cell_text(c, k).rjust(w) for c, w in zip(cells, widths, strict=True)]
        out.append("  " + row.ljust(first) + "  " + "  ".join(shown))
    return out


def to_table(report: Report, labels: Mapping[str, str] | None = None) -> str:
    """Plain text for a terminal or a chat: `labels` names the topics."""
    k = report.k
    labels = labels or {}
    head = (
        f"{'week':10}  {'reqs':>5}  {'match':>5}  {'status p50':>10}  {'human p50':>9}  "
        f"{'p90':>5}  {'<=goal':>6}  {'widen':>5}  {'paged':>5}  {'handov':>6}  {'refer':>5}"
    )
    out = [
        f"Peerline statistics. x = hidden: under {k}, or it would give one that is away. "
        "Times in minutes.",
        "",
        head,
    ]
    for w in report.weeks:
        out.append(
            f"{w.week.isoformat():10}  {_cell_text(w.requests, k):>5}  "
            f"{_cell_text(w.matched, k):>5}  {_minutes(w.status_p50_s):>10}  "
            f"{_minutes(w.human_p50_s):>9}  {_minutes(w.human_p90_s):>5}  "
            f"{_share(w.within_goal):>6}  {_cell_text(w.widened, k):>5}  "
            f"{_cell_text(w.paged, k):>5}  {_cell_text(w.handovers, k):>6}  "
            f"{_cell_text(w.referrals, k):>5}"
        )
    if not report.weeks:
        out.append("(no requests yet)")
    out.append("")
    out += _grid_lines("Requests by week and topic", report.topics, k, labels)
    out.append("")
    out += _grid_lines("Requests by week and who asked", report.askers, k, {})
    out.append("")
    out += _grid_lines("Ratings (1-5)", report.ratings, k, {})
    out += _grid_lines("Did it help?", report.helped, k, {})
    out.append("")
    out += _grid_lines("Follow-up answers (plan step x answer)", report.followups, k, {})
    out.append("")
    out += _grid_lines("Helpers by conversations now", report.load, k, {})
    out.append(
        "Helpers resting after a heavy conversation: "
        f"now {_cell_text(report.cooling_down, k)}, "
        f"earlier this week {_cell_text(report.cool_down.get(COOL_DOWN, EARLIER), k)}, "
        f"this week {_cell_text(report.cooled_this_week, k)}"
    )
    out.append("")
    out += _grid_lines("Critical incidents by week", report.incidents, k, {})
    return "\n".join(out)


def to_json(report: Report) -> dict[str, Any]:
    """Suppressed cells are null; `k` says why."""

    def table(g: Grid) -> dict[str, Any]:
        return {
            "rows": list(g.rows),
            "columns": list(g.columns),
            "cells": [list(line) for line in g.cells],
        }

    return {
        "k": report.k,
        "weeks": [
            {
                "week": w.week.isoformat(),
                "requests": w.requests,
                "matched": w.matched,
                "status_p50_s": w.status_p50_s,
                "human_p50_s": w.human_p50_s,
                "human_p90_s": w.human_p90_s,
                "within_goal": w.within_goal,
                "widened": w.widened,
                "paged": w.paged,
                "handovers": w.handovers,
                "referrals": w.referrals,
            }
            for w in report.weeks
        ],
        "topics": table(report.topics),
        "askers": table(report.askers),
        "ratings": table(report.ratings),
        "helped": table(report.helped),
        "followups": table(report.followups),
        "helper_load_now": table(report.load),
        "cooling_down_now": report.cooling_down,
        "cool_down": table(report.cool_down),
        "incidents": table(report.incidents),
    }


def to_json_text(report: Report) -> str:
    return json.dumps(to_json(report), indent=2) + "\n"


def to_csv(report: Report) -> str:
    """Long form, one number a line: section, row, column, value ("x" when hidden)."""
    k = report.k
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["section", "row", "column", "value"])
    for week_line in to_json(report)["weeks"]:
        week = week_line.pop("week")
        for key, value in week_line.items():
            writer.writerow(["weeks", week, key, _csv_value(key, value, k)])
    for section, g in (
        ("topics", report.topics),
        ("askers", report.askers),
        ("ratings", report.ratings),
        ("helped", report.helped),
        ("followups", report.followups),
        ("helper_load_now", report.load),
        ("cool_down", report.cool_down),
        ("incidents", report.incidents),
    ):
        for row, cells in zip(g.rows, g.cells, strict=True):
            for column, cell in zip(g.columns, cells, strict=True):
                writer.writerow([section, row, column, _cell_text(cell, k)])
    writer.writerow(["cooling_down_now", "", "", _cell_text(report.cooling_down, k)])
    return buffer.getvalue()


def _csv_value(key: str, value: object, k: int) -> str:
    if value is None:
        return HIDDEN if key in _COUNT_KEYS else ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


_COUNT_KEYS = frozenset({"requests", "matched", "widened", "paged", "handovers", "referrals"})


def weeks_in(rows: Iterable[MetricRow]) -> list[date]:
    return sorted({r.week for r in rows})
