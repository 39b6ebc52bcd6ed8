"""`peerline invite create`, and how new invites are handed out (text, JSON or a QR sheet)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bot.cli.common import EXIT_OK, EXIT_USAGE, Commands, fail, open_repository
from bot.config import Config, parse_duration
from bot.invites import InviteError, create_invites, invite_links
from bot.model import Role

FORMATS = ("text", "json", "qr")


@dataclass(frozen=True, slots=True)
class Issued:
    """A new invite as handed out: its code, and for an import, the row it came from."""

    code: str
    role: Role
    name: str = ""
    agency: str | None = None
    line: int | None = None


def register(commands: Commands) -> None:
    invite = commands.group("invite", "manage invite codes")
    create = invite.command("create", "print new single-use invite codes", _create)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument(
        "--agency",
        default=None,
        help="the member's agency (for family: their officer's, required; for a retiree: the"
        " former one)",
    )
    create.add_argument("--count", type=int, default=1, help="how many codes (1-500)")
    create.add_argument("--expires", default="7d", help="how long codes stay valid, e.g. 7d")
    create.add_argument(
        "--certified-until",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="required for peer and chaplain invites",
    )
    add_output_options(create)


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text: a line per code; json: a list; qr: a printable sheet (needs --output)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help="write there instead of the screen (mode 0600); for qr a .png or .pdf file",
    )


def output_problem(config: Config, args: argparse.Namespace) -> str | None:
    """Why the chosen output cannot work, checked before any invite is stored."""
    if args.format != "qr":
        return None
    if args.output is None or args.output.suffix.lower() not in (".png", ".pdf"):
        return "--format qr needs --output FILE.png or FILE.pdf"
    if not invite_links(config, "X"):
        return "--format qr needs a deep link: set [telegram] bot_username"
    return None


def emit(config: Config, issued: Sequence[Issued], args: argparse.Namespace) -> int:
    if args.format == "qr":
        return _sheet(config, issued, args.output)
    if args.format == "json":
        body = json.dumps([_as_json(config, item) for item in issued], indent=2) + "\n"
    else:
        body = "".join(_as_text(config, item) + "\n" for item in issued)
    if args.output is None:
        print(body, end="")
        return EXIT_OK
    fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(body)
    print(f"wrote {len(issued)} invite(s) to {args.output}; they are live codes, keep it private")
    return EXIT_OK


def _as_text(config: Config, item: Issued) -> str:
    parts = [item.code, *(link for _, link in invite_links(config, item.code))]
    if item.line is not None:
        parts = [f"line {item.line}", item.role.value, item.name or "-", *parts]
    return "  ".join(parts)


def _as_json(config: Config, item: Issued) -> dict[str, object]:
    body: dict[str, object] = {
        "code": item.code,
        "role": item.role.value,
        "links": {platform.lower(): link for platform, link in invite_links(config, item.code)},
    }
    if item.agency:
        body["agency"] = item.agency
    if item.line is not None:
        body["line"] = item.line
        body["display_name"] = item.name
    return body


def _sheet(config: Config, issued: Sequence[Issued], output: Path) -> int:
    from bot.invite_sheet import Card, write_sheet  # noqa: PLC0415 - Pillow only when asked

    cards = [
        Card(
            title=config.program.name,
            subtitle=" · ".join(
                part for part in (item.role.value, item.name, item.agency) if part
            ),
            code=item.code,
            links=tuple(invite_links(config, item.code)),
        )
        for item in issued
    ]
    for path in write_sheet(cards, output):
        print(f"wrote {path}")
    print(
        f"{len(issued)} invite(s). The sheet holds live codes: hand each card to its person "
        "and shred the ones left over."
    )
    return EXIT_OK


def _create(config: Config | None, args: argparse.Namespace) -> int:
    assert config is not None  # noqa: S101 - registered with needs_config
    return asyncio.run(_invite_create(config, args))


async def _invite_create(config: Config, args: argparse.Namespace) -> int:
    from bot.app import utc_now  # noqa: PLC0415 - keeps `--help` free of the app's imports

    try:
        valid_for = parse_duration(args.expires)
    except ValueError:
        return fail(f"--expires: expected a duration like 7d or 12h, got {args.expires!r}")
    problem = output_problem(config, args)
    if problem is not None:
        return fail(problem)
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
    agency = args.agency.strip() if args.agency else None
    return emit(config, [Issued(code, Role(args.role), agency=agency) for code in codes], args)
