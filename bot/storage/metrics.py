"""Anonymous numbers: clock metrics and ratings, with no member, thread or time finer than the
week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bot.model import (
    Category,
)
from bot.storage.base import StoreBase


@dataclass(frozen=True, slots=True)
class RequestMetrics:
    """The contact clock of one request, as numbers only: no time finer than the week."""

    week: date  # its Monday
    category: Category
    urgent: bool
    outcome: str  # "matched" or "cancelled"
    secs_to_status: float | None
    secs_to_first_offer: float | None
    secs_to_accept: float | None
    met_goal: bool
    widened: bool = False
    paged: bool = False
    handover: bool = False  # a hand-over to another helper (/transfer)
    referral: bool = False  # to a clinician
    asker: str = "officer"  # who asked, as a group: officer, family, retiree or helper


class MetricsStore(StoreBase):
    async def record_metrics(self, metrics: RequestMetrics) -> None:
        await self._exec(
            "INSERT INTO request_metrics (week, category, urgent, outcome, secs_to_status,"
            " secs_to_first_offer, secs_to_accept, met_goal, widened, paged, handover, referral,"
            " asker) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (metrics.week - timedelta(days=metrics.week.weekday())).isoformat(),
                metrics.category.value,
                int(metrics.urgent),
                metrics.outcome,
                metrics.secs_to_status,
                metrics.secs_to_first_offer,
                metrics.secs_to_accept,
                int(metrics.met_goal),
                int(metrics.widened),
                int(metrics.paged),
                int(metrics.handover),
                int(metrics.referral),
                metrics.asker,
            ),
        )

    async def add_rating(self, score: int | None, helped: str | None) -> int:
        """A new anonymous rating row; returns its number so 'helped' can be added to it."""
        async with self._lock:
            cursor = await self._conn.execute(
                "INSERT INTO ratings (score, helped) VALUES (?, ?)", (score, helped)
            )
            return int(cursor.lastrowid or 0)

    async def set_rating_helped(self, rating_id: int, helped: str) -> None:
        await self._exec(
            "UPDATE ratings SET helped = ? WHERE id = ? AND helped IS NULL", (helped, rating_id)
        )

    async def ratings(self) -> list[tuple[int | None, str | None]]:
        rows = await self._all("SELECT score, helped FROM ratings ORDER BY id")
        return [(row[0], row[1]) for row in rows]

    async def metrics(self) -> list[RequestMetrics]:
        rows = await self._all("SELECT * FROM request_metrics ORDER BY id")
        return [
            RequestMetrics(
                week=date.fromisoformat(row["week"]),
                category=Category(row["category"]),
                urgent=bool(row["urgent"]),
                outcome=row["outcome"],
                secs_to_status=row["secs_to_status"],
                secs_to_first_offer=row["secs_to_first_offer"],
                secs_to_accept=row["secs_to_accept"],
                met_goal=bool(row["met_goal"]),
                widened=bool(row["widened"]),
                paged=bool(row["paged"]),
                handover=bool(row["handover"]),
                referral=bool(row["referral"]),
                asker=row["asker"],
            )
            for row in rows
        ]
