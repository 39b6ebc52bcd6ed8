"""`peerline invite create`."""

from __future__ import annotations

import argparse
import asyncio
from datetime import date

from bot.cli.common import EXIT_OK, EXIT_USAGE, Commands, fail, open_repository
from bot.config import Config, parse_duration
from bot.invites import InviteError, create_invites, deep_link, signal_link
from bot.model import Role


def register(commands: Commands) -> None:
    invite = commands.group("invite", "manage invite codes")
    create = invite.command("create", "print new single-use invite codes", _create)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--agency", default=None, help="the member's agency")
    create.add_argument("--count", type=int, default=1, help="how many codes (1-500)")
    create.add_argument("--expires", default="7d", help="how long codes stay valid, e.g. 7d")
    create.add_argument(
        "--certified-until",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="required for peer and chaplain invites",
    )


def _create(config: Config | None, args: argparse.Namespace) -> int:
    assert config is not None  # noqa: S101 - registered with needs_config
    return asyncio.run(_invite_create(config, args))


async def _invite_create(config: Config, args: argparse.Namespace) -> int:
    from bot.app import utc_now  # noqa: PLC0415 - keeps `--help` free of the app's imports

    try:
        valid_for = parse_duration(args.expires)
    except ValueError:
        return fail(f"--expires: expected a duration like 7d or 12h, got {args.expires!r}")
    repo = await open_repository(config)
    if repo is None:
        return EXIT_USAGE
    try:
        codes = await create_invites(
            repo,
            role=Role(args.role),
            agency=args.agency,
            count=args.count,
            valid_for=valid_for,
            certified_until=args.certified_until,
            now=utc_now(),
        )
    except InviteError as exc:
        return fail(str(exc))
    finally:
        await repo.close()
    for code in codes:
        links = []
        if config.telegram.bot_username:
            links.append(deep_link(config.telegram.bot_username, code))
        if config.signal.number:
            links.append(signal_link(config.signal.number))
        print("  ".join([code, *links]))
    return EXIT_OK
