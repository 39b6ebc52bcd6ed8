"""`peerline roster ...`: see and manage members, one at a time or from a CSV file."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from functools import partial
from pathlib import Path

from bot.cli.common import EXIT_OK, Commands, fail, with_repository
from bot.cli.invite import Issued, add_output_options, emit, output_problem
from bot.config import Config, parse_duration
from bot.events import Address, Menu, Platform
from bot.model import HELPER_ROLES, Member, MemberId, Role
from bot.roster_csv import ExportRow, export_roster, parse_roster
from bot.storage.repository import InviteSpec, Repository
from bot.storage.roster import RosterIntegrityError


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
    revoke.add_argument(
        "--purge",
        action="store_true",
        help="also erase their sealed data and settings (works on a member already revoked)",
    )
    reconfirm = roster.command(
        "reconfirm",
        "a helper's Signal safety number changed and you checked it is them: "
        "let them take requests again",
        _reconfirm,
    )
    reconfirm.add_argument("member", type=int, help="member number (from 'roster list')")
    restore = roster.command("restore", "give a revoked member their access back", _restore)
    restore.add_argument("member", type=int, help="member number (from 'roster list')")
    certify = roster.command(
        "certify", "renew a peer's, chaplain's or clinician's certification", _certify
    )
    certify.add_argument("member", type=int, help="member number (from 'roster list')")
    certify.add_argument("--until", type=date.fromisoformat, required=True, metavar="YYYY-MM-DD")
    coordinator = roster.command(
        "coordinator", "give or take coordinator rights (paging, chat commands)", _coordinator
    )
    coordinator.add_argument("member", type=int, help="member number (from 'roster list')")
    coordinator.add_argument("switch", choices=("on", "off"))
    importer = roster.command(
        "import",
        "apply a CSV roster: rows with a member number change that member, rows without one "
        "get an invite; every row is checked first, and nothing is applied unless all are right",
        _import,
    )
    importer.add_argument("file", type=Path, metavar="FILE.csv")
    importer.add_argument("--expires", default="14d", help="how long new invites stay valid")
    importer.add_argument(
        "--dry-run", action="store_true", help="check the file and say what would change"
    )
    add_output_options(importer)
    export = roster.command(
        "export", "write the roster as CSV (the columns 'roster import' reads)", _export
    )
    export.add_argument(
        "--output", type=Path, default=None, metavar="FILE.csv", help="default: the screen"
    )


def _list(config: Config | None, args: argparse.Namespace) -> int:
    return with_repository(config, args, _list_members)


def _supervise(config: Config | None, args: argparse.Namespace) -> int:
    return with_repository(config, args, _record_supervision)


def _revoke(config: Config | None, args: argparse.Namespace) -> int:
    assert config is not None  # noqa: S101 - registered with needs_config
    return with_repository(config, args, partial(_revoke_member, config))


def _reconfirm(config: Config | None, args: argparse.Namespace) -> int:
    return with_repository(config, args, _release_hold)


def _restore(config: Config | None, args: argparse.Namespace) -> int:
    assert config is not None  # noqa: S101 - registered with needs_config
    return with_repository(config, args, partial(_restore_member, config))


def _certify(config: Config | None, args: argparse.Namespace) -> int:
    return with_repository(config, args, _certify_member)


def _coordinator(config: Config | None, args: argparse.Namespace) -> int:
    return with_repository(config, args, _switch_coordinator)


def _export(config: Config | None, args: argparse.Namespace) -> int:
    return with_repository(config, args, _export_roster)


def _import(config: Config | None, args: argparse.Namespace) -> int:
    assert config is not None  # noqa: S101 - registered with needs_config
    try:
        args.valid_for = parse_duration(args.expires)
    except ValueError:
        return fail(f"--expires: expected a duration like 14d or 12h, got {args.expires!r}")
    problem = output_problem(config, args)
    if problem is not None:
        return fail(problem)
    try:
        args.text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        return fail(f"{args.file}: cannot read ({reason})")

    async def run(repo: Repository, args: argparse.Namespace) -> int:
        return await _import_roster(repo, args, config)

    return with_repository(config, args, run)


async def _list_members(repo: Repository, _args: argparse.Namespace) -> int:
    print("number  role         agency                available  certified   name")
    for member in await repo.all_members():
        agency = await repo.member_agency(member.id) or "-"
        status = "revoked" if not member.active else ("yes" if member.available else "no")
        status = "held" if member.active and member.identity_hold else status
        certified = member.certified_until.isoformat() if member.certified_until else "-"
        role = member.role.value + ("+c" if member.coordinator else "")
        print(
            f"{member.id:<7} {role:<12} {agency[:20]:<21} {status:<10} "
            f"{certified:<11} {member.display_name or '-'}"
        )
    for number, role, state in await repo.unusable_members():
        print(f"{number:<7} {role.value:<12} {'-':<21} {state:<10} {'-':<11} -")
    return EXIT_OK


async def _record_supervision(repo: Repository, args: argparse.Namespace) -> int:
    supervisor = await repo.member(MemberId(args.supervisor))
    report = await repo.member(MemberId(args.report))
    if supervisor is None or report is None or supervisor.id == report.id:
        return fail("give two different member numbers from 'roster list'")
    if not await repo.add_supervision(supervisor.id, report.id):
        return fail("one of these member records fails its integrity check")
    print(f"recorded: {supervisor.id} supervises {report.id}")
    return EXIT_OK


async def _revoke_member(config: Config, repo: Repository, args: argparse.Namespace) -> int:
    before = await repo.member(MemberId(args.member))  # their address, before any erasing
    if not await repo.set_active(MemberId(args.member), False):
        return fail(f"no member number {args.member}")
    # Their check-ins went with it (Repository.set_active). The running bot ends their
    # conversations on its next clock tick, telling the other side.
    if args.purge:
        await repo.purge_member(MemberId(args.member))
        print(f"member {args.member} revoked and erased")
    else:
        print(f"member {args.member} revoked")
    if before is not None and (said := await _set_menu(config, before.address, ())):
        print(said)
    return EXIT_OK


def _own_menu(config: Config, member: Member) -> Menu:
    from bot.i18n import catalogs_for  # noqa: PLC0415 - keeps `--help` free of the catalogs
    from handlers.menus import commands_for, described  # noqa: PLC0415

    return described(catalogs_for(config).get(member.language), commands_for(member))


async def _set_menu(config: Config, address: Address, commands: Menu) -> str | None:
    """Their own Telegram menu, set now rather than at their next message: () deletes it (the
    stranger's shows again). An erased member leaves nothing to find them by later, and the
    running bot sets a menu again only when it differs from the one it set itself (so a
    restore must set it, after a revoke cleared it behind the bot's back). Returns a line for
    the operator; None when they are not on Telegram."""
    if address.platform is not Platform.TELEGRAM or not config.telegram.enabled:
        return None
    from bot.transports.probes import set_telegram_menu  # noqa: PLC0415 - platforms

    telegram = config.telegram
    result = await set_telegram_menu(
        telegram.token, telegram.base_url, telegram.base_file_url, int(address.chat_id), commands
    )
    if result.ok:
        return result.detail
    if commands:
        return f"note: their Telegram menu was not set: {result.detail}"
    return f"note: their Telegram menu stays until they next write: {result.detail}"


async def _release_hold(repo: Repository, args: argparse.Namespace) -> int:
    member = await repo.member(MemberId(args.member))
    if member is None or not member.identity_hold:
        return fail(f"member {args.member} is not waiting to be confirmed")
    await repo.set_identity_hold(member.id, False)
    print(f"member {args.member} confirmed; they take requests again once they send /available")
    return EXIT_OK


async def _restore_member(config: Config, repo: Repository, args: argparse.Namespace) -> int:
    member = await repo.member(MemberId(args.member))
    if member is None:
        return fail(f"no member number {args.member}")
    if member.active:
        return fail(f"member {member.id} is not revoked")
    await repo.set_active(member.id, True)
    expired = member.is_helper and (
        member.certified_until is None or member.certified_until < date.today()  # noqa: DTZ011 - the operator's calendar day
    )
    note = " Their certification has run out: renew it with 'roster certify'." if expired else ""
    print(f"member {member.id} restored; they choose /available themselves.{note}")
    if said := await _set_menu(config, member.address, _own_menu(config, member)):
        print(said)
    return EXIT_OK


async def _certify_member(repo: Repository, args: argparse.Namespace) -> int:
    member = await repo.member(MemberId(args.member))
    if member is None:
        return fail(f"no member number {args.member}")
    if member.role not in HELPER_ROLES:
        return fail(f"member {member.id} is a {member.role.value}; only helpers are certified")
    if args.until < date.today():  # noqa: DTZ011 - the operator's calendar day
        return fail(f"--until {args.until.isoformat()} is in the past")
    await repo.set_certified_until(member.id, args.until)
    print(f"member {member.id} certified until {args.until.isoformat()}")
    return EXIT_OK


async def _switch_coordinator(repo: Repository, args: argparse.Namespace) -> int:
    member = await repo.member(MemberId(args.member))
    if member is None:
        return fail(f"no member number {args.member}")
    if member.asks:
        return fail(
            f"member {member.id} is a {member.role.value}; only helpers and staff are given"
            " coordinator rights"
        )
    if member.role is Role.COORDINATOR:
        return fail(f"member {member.id} is a coordinator by role; revoke them instead")
    await repo.set_coordinator(member.id, args.switch == "on")
    print(f"member {member.id}: coordinator rights {args.switch}")
    return EXIT_OK


async def _export_roster(repo: Repository, args: argparse.Namespace) -> int:
    pairs = await repo.supervision_pairs()
    rows = [
        ExportRow(
            member=member,
            agency=await repo.member_agency(member.id),
            supervisors=tuple(s for s, report in pairs if report == member.id),
        )
        for member in await repo.all_members()
    ]
    text = export_roster(rows)
    if args.output is None:
        print(text, end="")
        return EXIT_OK
    fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    print(f"wrote {len(rows)} member(s) to {args.output}; it names agencies, keep it private")
    return EXIT_OK


async def _import_roster(repo: Repository, args: argparse.Namespace, config: Config) -> int:
    from bot.app import utc_now  # noqa: PLC0415 - keeps `--help` free of the app's imports
    from bot.invites import fresh_code  # noqa: PLC0415

    now = utc_now()
    members: dict[MemberId, Member] = {m.id: m for m in await repo.all_members()}
    plan = parse_roster(args.text, members, now.date())
    if plan.errors:
        for error in plan.errors:
            fail(f"{args.file}: {error}")
        return fail(f"{args.file}: nothing imported ({len(plan.errors)} problem(s))")
    if args.dry_run:
        print(f"{args.file}: OK: {len(plan.changes)} member(s) to change, {len(plan.new)} new")
        return EXIT_OK
    issued: list[Issued] = []
    invites: list[tuple[str, InviteSpec]] = []
    for new in plan.new:
        code, normalized = fresh_code()
        spec = InviteSpec(
            role=new.role,
            agency=new.agency,
            expires_at=now + args.valid_for,
            certified_until=new.certified_until,
            display_name=new.display_name,
            topics=new.topics,
            supervisor=new.supervisor,
            serves=new.serves,
        )
        invites.append((normalized, spec))
        issued.append(Issued(code, new.role, new.display_name, new.agency, new.line))
    try:
        await repo.apply_roster(plan.changes, invites, now)
    except RosterIntegrityError as exc:
        return fail(f"{args.file}: nothing imported: {exc}")
    for change in plan.changes:
        if change.active is False:  # revoked: their check-ins and links go with them
            await repo.forget_member_followups(change.member_id)
    # A JSON list on the screen must stay parseable, so the summary goes to stderr then.
    to = sys.stderr if args.format == "json" and args.output is None else sys.stdout
    print(
        f"{args.file}: changed {len(plan.changes)} member(s), {len(plan.new)} new invite(s)",
        file=to,
    )
    for change in plan.changes:  # revoked or restored here: their menu changes now, as above
        member = members.get(change.member_id)
        if member is not None and change.active is not None and change.active != member.active:
            menu = _own_menu(config, member) if change.active else ()
            if said := await _set_menu(config, member.address, menu):
                print(f"member {member.id}: {said}", file=to)
    return emit(config, issued, args) if issued else EXIT_OK
