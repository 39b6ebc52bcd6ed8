"""`peerline stats`: the program's numbers for a report, k-anonymous (see bot/stats.py)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.cli.common import EXIT_OK, Commands, fail, with_repository
from bot.config import Config
from bot.storage.repository import Repository

FORMATS = ("table", "csv", "json")


def register(commands: Commands) -> None:
    stats = commands.command(
        "stats",
        "requests by week and topic, times to a human, ratings, helper load; "
        "counts under k hidden",
        _stats,
    )
    stats.add_argument("--format", choices=FORMATS, default="table")
    stats.add_argument("--output", type=Path, default=None, help="write here instead of stdout")
    stats.add_argument(
        "--chart",
        type=Path,
        default=None,
        metavar="FILE.png",
        help="also draw requests per week as a PNG chart",
    )
    stats.add_argument(
        "--k", type=int, default=None, help="hide counts under k (default: [program] stats_k)"
    )


def _stats(config: Config | None, args: argparse.Namespace) -> int:
    assert config is not None  # noqa: S101 - registered with needs_config
    k = args.k if args.k is not None else config.program.stats_k
    if k < 2:
        return fail("--k: must be at least 2")
    if args.chart is not None and args.chart.suffix.lower() != ".png":
        return fail(f"--chart: expected a .png file, got {args.chart.name!r}")

    async def action(repo: Repository, _args: argparse.Namespace) -> int:
        from bot import stats  # noqa: PLC0415 - keeps `--help` free of the app's imports
        from bot.catalog import EN  # noqa: PLC0415
        from bot.model import REPORTED, Category  # noqa: PLC0415
        from bot.stats_collect import collect  # noqa: PLC0415

        inputs = await collect(repo, datetime.now(UTC))
        topics = [c.value for c in REPORTED]
        report = stats.build(inputs, topics, k)
        labels = {c.value: getattr(EN, f"category_{c.value}") for c in Category}
        text = {
            "table": lambda: stats.to_table(report, labels) + "\n",
            "csv": lambda: stats.to_csv(report),
            "json": lambda: stats.to_json_text(report),
        }[args.format]()
        if args.output is None:
            sys.stdout.write(text)
        else:
            args.output.write_text(text, encoding="utf-8")
            print(f"wrote {args.output}")
        if args.chart is not None:
            from bot.stats_chart import render_chart  # noqa: PLC0415

            render_chart(report, args.chart, title=f"{config.program.name}: requests per week")
            print(f"wrote {args.chart}")
        return EXIT_OK

    return with_repository(config, args, action)
