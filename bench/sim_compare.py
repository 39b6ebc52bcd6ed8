"""Urgent requests under several `[routing] urgent_offers`, each set of runs pooled, and how far
each is from the first (`--urgent-offers-grid` of bench/routing_sim.py).

Any change to the policy shifts every later draw of the simulated month, so two settings are
never compared request by request, only as pooled figures; whether a difference is more than
that shift is told by a bootstrap: the urgent requests of each setting resampled with
replacement, `REPEATS` times, and the differences in p90, p99 and the share within the goal
between a resample of the first setting and one of the other. A difference is within noise when
the middle 95% of those differences contains zero.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

REPEATS = 2000


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Pooled:
    """One setting's runs, every seed's urgent requests together."""

    label: str
    waits: tuple[float | None, ...]  # seconds to a human, per urgent request (None: never)
    urgent_offers: int  # offers sent for those requests
    requests: int  # every request, urgent or not
    offers: int  # offers sent for every request


@dataclass(frozen=True, slots=True)
class Figures:
    p50: float  # minutes, over the matched
    p90: float
    p99: float
    within: float  # share of all urgent requests matched within the goal

    @classmethod
    def of(cls, waits: Sequence[float | None], goal_s: float) -> Figures:
        matched = [w for w in waits if w is not None]

        def minutes(q: float) -> float:
            found = percentile(matched, q)
            return math.inf if found is None else found / 60

        within = sum(1 for w in matched if w <= goal_s) / len(waits) if waits else 0.0
        return cls(minutes(50), minutes(90), minutes(99), within)


def differences(
    first: Sequence[float | None], other: Sequence[float | None], goal_s: float, seed: int = 0
) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
    """The middle 95% of the bootstrap differences (other minus first) in p90, p99 (minutes)
    and the share within the goal."""
    rng = random.Random(seed)
    found: tuple[list[float], list[float], list[float]] = ([], [], [])
    for _ in range(REPEATS):
        a = Figures.of(rng.choices(first, k=len(first)), goal_s)
        b = Figures.of(rng.choices(other, k=len(other)), goal_s)
        found[0].append(b.p90 - a.p90)
        found[1].append(b.p99 - a.p99)
        found[2].append(b.within - a.within)

    def middle(values: list[float]) -> tuple[float, float]:
        values.sort()
        return values[int(0.025 * len(values))], values[int(0.975 * len(values)) - 1]

    return middle(found[0]), middle(found[1]), middle(found[2])


def within_noise(spans: Sequence[tuple[float, float]]) -> bool:
    return all(low <= 0 <= high for low, high in spans)


COLUMNS = (
    "urgent_offers",
    "urgent requests",
    "urgent p50",
    "urgent p90",
    "urgent p99",
    "urgent <= goal",
    "Δ p90 (95%)",
    "Δ p99 (95%)",
    "Δ <= goal (95%)",
    "within noise",
    "offers / urgent",
    "offers / request",
)


def render_grid(rows: Sequence[Pooled], goal_s: float) -> str:
    """One line per setting; the differences are from the first."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "--:|" * len(COLUMNS)]
    first = rows[0]
    for row in rows:
        figures = Figures.of(row.waits, goal_s)
        spans = ["", "", "", ""]
        if row is not first:
            found = differences(first.waits, row.waits, goal_s)
            p90, p99, share = found
            spans = [
                f"{p90[0]:+.2f} to {p90[1]:+.2f}",
                f"{p99[0]:+.2f} to {p99[1]:+.2f}",
                f"{100 * share[0]:+.1f} to {100 * share[1]:+.1f}",
                "yes" if within_noise(found) else "no",
            ]
        cells = [
            row.label,
            str(len(row.waits)),
            f"{figures.p50:.2f} min",
            f"{figures.p90:.2f} min",
            f"{figures.p99:.2f} min",
            f"{100 * figures.within:.1f}%",
            *spans,
            f"{row.urgent_offers / max(1, len(row.waits)):.1f}",
            f"{row.offers / max(1, row.requests):.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
