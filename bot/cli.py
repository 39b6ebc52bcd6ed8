"""The `peerline` command: check, keygen, run, invite create, demo."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Config, ConfigError, load_config, parse_duration
from bot.invites import InviteError, create_invites, deep_link
from bot.logs import setup_logging
from bot.model import Role
from crypto import KeyFileError, generate_key_file

if TYPE_CHECKING:
    from bot.storage.repository import Repository

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peerline", description="Peerline: a confidential peer-support front door."
    )
    parser.add_argument(
        "--config", type=Path, default=Path("config.toml"), help="config file (TOML)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="validate the config file and say what is wrong")
    commands.add_parser("keygen", help="write a new master key file (never overwrites)")
    commands.add_parser("run", help="run the bot until Ctrl-C or SIGTERM")
    commands.add_parser("demo", help="play a scripted scenario on a local stand-in; no accounts")
    invite = commands.add_parser("invite", help="manage invite codes")
    invite_commands = invite.add_subparsers(dest="invite_command", required=True)
    create = invite_commands.add_parser("create", help="print new single-use invite codes")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--agency", default=None, help="the member's agency")
    create.add_argument("--count", type=int, default=1)
    create.add_argument("--expires", default="7d", help="how long codes stay valid, e.g. 7d")
    create.add_argument(
        "--certified-until",
        type=date.fromisoformat,
        default=None,
        help="YYYY-MM-DD; required for peer and chaplain invites",
    )
    roster = commands.add_parser("roster", help="see and manage members")
    roster_commands = roster.add_subparsers(dest="roster_command", required=True)
    roster_commands.add_parser("list", help="every member: number, role, agency, status")
    supervise = roster_commands.add_parser(
        "supervise", help="record that one member supervises another (never matched together)"
    )
    supervise.add_argument("--supervisor", type=int, required=True, help="member number")
    supervise.add_argument("--report", type=int, required=True, help="member number")
    revoke = roster_commands.add_parser("revoke", help="remove a member's access at once")
    revoke.add_argument("member", type=int, help="member number")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from bot.demo import main as demo_main  # noqa: PLC0415 - only the demo needs it

        return demo_main()
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "check":
        return _check(config)
    if args.command == "keygen":
        return _keygen(config)
    if args.command == "run":
        setup_logging(config.logging.level, config.logging.file)
        from bot.app import App  # noqa: PLC0415 - keeps `check` fast and free of platform imports

        try:
            asyncio.run(App(config).run())
        except (KeyFileError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except Exception as exc:
            print(f"error: {_start_failure(exc)}", file=sys.stderr)
            return 1
        return 0
    if args.command == "roster":
        return asyncio.run(_roster(config, args))
    return asyncio.run(_invite_create(config, args))


def _start_failure(exc: Exception) -> str:
    """One line for a failed start. Messages are our own or SQLite's; none carries the token
    (the Telegram transport re-raises without PTB's message, which can)."""
    import sqlite3  # noqa: PLC0415

    from bot.app import TransportFailedError  # noqa: PLC0415
    from bot.storage.db import SchemaTooNewError  # noqa: PLC0415
    from bot.transports.telegram import TelegramStartError  # noqa: PLC0415
    from crypto import DecryptionError  # noqa: PLC0415

    if isinstance(exc, TelegramStartError | SchemaTooNewError | TransportFailedError):
        return str(exc)
    if isinstance(exc, DecryptionError):
        return "the master key does not open this database (wrong key file?)"
    if isinstance(exc, sqlite3.Error | OSError):
        return f"the database or log file could not be used ({type(exc).__name__}: {exc})"
    return f"Peerline could not start ({type(exc).__name__})"


def _check(config: Config) -> int:
    from bot.app import load_key  # noqa: PLC0415

    try:
        load_key(config)
    except (KeyFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{config.source}: OK")
    return 0


def _keygen(config: Config) -> int:
    if config.crypto.key_file is None:
        print("error: [crypto] key_file is not set", file=sys.stderr)
        return EXIT_USAGE
    try:
        config.crypto.key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        generate_key_file(config.crypto.key_file)
    except KeyFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {config.crypto.key_file} (mode 0600). Back it up somewhere safe.")
    return 0


async def _invite_create(config: Config, args: argparse.Namespace) -> int:
    from bot.app import utc_now  # noqa: PLC0415

    try:
        valid_for = parse_duration(args.expires)
    except ValueError:
        print(
            f"error: --expires: expected a duration like 7d or 12h, got {args.expires!r}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    repo = await _open_repository(config)
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
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        await repo.close()
    for code in codes:
        if config.telegram.bot_username:
            print(f"{code}  {deep_link(config.telegram.bot_username, code)}")
        else:
            print(code)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


async def _open_repository(config: Config) -> Repository | None:
    """The database, opened with the master key; None (after saying why) without a key."""
    from bot.app import load_key  # noqa: PLC0415
    from bot.storage.repository import Repository  # noqa: PLC0415
    from crypto import Vault  # noqa: PLC0415

    try:
        key = load_key(config)
    except (KeyFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    return await Repository.open(config.storage.path, Vault(key))


async def _roster(config: Config, args: argparse.Namespace) -> int:
    from bot.model import MemberId  # noqa: PLC0415

    repo = await _open_repository(config)
    if repo is None:
        return EXIT_USAGE
    try:
        if args.roster_command == "list":
            print("number  role         agency                available  certified   name")
            for member in await repo.all_members():
                agency = await repo.member_agency(member.id) or "-"
                status = "revoked" if not member.active else ("yes" if member.available else "no")
                certified = member.certified_until.isoformat() if member.certified_until else "-"
                print(
                    f"{member.id:<7} {member.role.value:<12} {agency[:20]:<21} {status:<10} "
                    f"{certified:<11} {member.display_name or '-'}"
                )
            return 0
        if args.roster_command == "supervise":
            supervisor = await repo.member(MemberId(args.supervisor))
            report = await repo.member(MemberId(args.report))
            if supervisor is None or report is None or supervisor.id == report.id:
                print(
                    "error: give two different member numbers from 'roster list'", file=sys.stderr
                )
                return EXIT_USAGE
            await repo.add_supervision(supervisor.id, report.id)
            print(f"recorded: {supervisor.id} supervises {report.id}")
            return 0
        if not await repo.set_active(MemberId(args.member), False):
            print(f"error: no member number {args.member}", file=sys.stderr)
            return EXIT_USAGE
        print(f"member {args.member} revoked")
        return 0
    finally:
        await repo.close()
