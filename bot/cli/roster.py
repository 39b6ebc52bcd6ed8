"""`peerline roster ...`: see and manage members."""

from __future__ import annotations

import argparse

from bot.cli.common import EXIT_OK, Commands, fail, with_repository
from bot.config import Config
from bot.model import MemberId
from bot.storage.repository import Repository


def register(commands: Commands) -> None:
    roster = commands.group("roster", "see and manage members")
    roster.command("list", "every member: number, role, agency, status", _list)
    supervise = roster.command(
        "supervise",
        "record that one member supervises another (never matched together)",
        _supervise,
    )
    supervise.add_argument("--supervisor", type=int, required=True, help="member number")
    supervise.add_argument("--report", type=int, required=True, help="member number")
    revoke = roster.command("revoke", "remove a member's access at once", _revoke)
    revoke.add_argument("member", type=int, help="member number (from 'roster list')")
    reconfirm = roster.command(
        "reconfirm",
        "a helper's Signal safety number changed and you checked it is them: "
        "let them take requests again",
        _reconfirm,
    )
    reconfirm.add_argument("member", type=int, help="member number (from 'roster list')")


def _list(config: Config | None, args: argparse.Namespace) -> int:
    return with_repository(config, args, _list_members)


def _supervise(config: Config | None, args: argparse.Namespace) -> int:
    return with_repository(config, args, _record_supervision)


def _revoke(config: Config | None, args: argparse.Namespace) -> int:
    return with_repository(config, args, _revoke_member)


def _reconfirm(config: Config | None, args: argparse.Namespace) -> int:
    return with_repository(config, args, _release_hold)


async def _list_members(repo: Repository, _args: argparse.Namespace) -> int:
    print("number  role         agency                available  certified   name")
    for member in await repo.all_members():
        agency = await repo.member_agency(member.id) or "-"
        status = "revoked" if not member.active else ("yes" if member.available else "no")
        status = "held" if member.active and member.identity_hold else status
        certified = member.certified_until.isoformat() if member.certified_until else "-"
        print(
            f"{member.id:<7} {member.role.value:<12} {agency[:20]:<21} {status:<10} "
            f"{certified:<11} {member.display_name or '-'}"
        )
    return EXIT_OK


async def _record_supervision(repo: Repository, args: argparse.Namespace) -> int:
    supervisor = await repo.member(MemberId(args.supervisor))
    report = await repo.member(MemberId(args.report))
    if supervisor is None or report is None or supervisor.id == report.id:
        return fail("give two different member numbers from 'roster list'")
    await repo.add_supervision(supervisor.id, report.id)
    print(f"recorded: {supervisor.id} supervises {report.id}")
    return EXIT_OK


async def _revoke_member(repo: Repository, args: argparse.Namespace) -> int:
    if not await repo.set_active(MemberId(args.member), False):
        return fail(f"no member number {args.member}")
    print(f"member {args.member} revoked")
    return EXIT_OK


async def _release_hold(repo: Repository, args: argparse.Namespace) -> int:
    member = await repo.member(MemberId(args.member))
    if member is None or not member.identity_hold:
        return fail(f"member {args.member} is not waiting to be confirmed")
    await repo.set_identity_hold(member.id, False)
    print(f"member {args.member} confirmed; they take requests again once they send /available")
    return EXIT_OK
