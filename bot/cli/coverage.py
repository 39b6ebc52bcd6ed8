"""`peerline coverage`: the coming week's hours with too few helpers on call, by role."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bot.cli.common import EXIT_OK, Commands, fail, with_repository
from bot.config import Config
from bot.storage.repository import Repository


def register(commands: Commands) -> None:
    coverage = commands.command(
        "coverage",
        "the next 7 days' hours with fewer than N peers or chaplains on call (by /hours)",
        _coverage,
    )
    coverage.add_argument(
        "--minimum", type=int, default=None, help="default: [program] coverage_minimum"
    )


def _coverage(config: Config | None, args: argparse.Namespace) -> int:
    assert config is not None  # noqa: S101 - registered with needs_config
    minimum = args.minimum if args.minimum is not None else config.program.coverage_minimum
    if minimum < 1:
        return fail("--minimum: must be at least 1")

    async def action(repo: Repository, _args: argparse.Namespace) -> int:
        from bot.catalog import EN  # noqa: PLC0415 - keeps `--help` free of the app's imports
        from bot.coverage import forecast  # noqa: PLC0415
        from bot.model import HELPER_ROLES  # noqa: PLC0415
        from handlers.program import describe_holes  # noqa: PLC0415

        zone = config.program.timezone
        helpers = await repo.members(roles=HELPER_ROLES)
        holes = forecast(helpers, datetime.now(UTC), minimum=minimum, zone=zone)
        print(describe_holes(EN, holes, minimum, zone, limit=None))
        return EXIT_OK

    return with_repository(config, args, action)
