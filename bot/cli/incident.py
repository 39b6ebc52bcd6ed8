"""`peerline incident open|list|close`: critical incidents from the server.

The CLI only writes the database: the running bot pages helpers on its next clock tick, and
tells the helpers and coordinators when an incident closes (by `close`, or by itself after
`[incidents] auto_close_days`). With the bot stopped, `close` finishes the close at once
(nobody is told; their page buttons answer "no longer active").
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bot.cli.common import EXIT_FAILED, EXIT_OK, Commands, fail, with_repository
from bot.config import Config, IncidentsConfig
from bot.storage.repository import Repository

DEFAULT_PAGES = 5
MOST_PAGES = 50


def register(commands: Commands) -> None:
    group = commands.group("incident", "critical incidents: page helpers from other agencies")
    opening = group.command(
        "open",
        "open a critical incident for AGENCY; the bot pages N helpers from outside it",
        _open,
    )
    opening.add_argument("agency", nargs="+", help="the agency, as on its members' invites")
    opening.add_argument(
        "--page", type=int, default=DEFAULT_PAGES, metavar="N", help="helpers wanted on call"
    )
    opening.add_argument(
        "--chaplains", action="store_true", help="page chaplains as well as peers"
    )
    group.command("list", "open incidents: agency, day opened, pages answered", _list)
    closing = group.command(
        "close", "close an incident (its id or agency); the bot tells the helpers", _close
    )
    closing.add_argument("which", nargs="+", help="the id from `incident list`, or the agency")


def _open(config: Config | None, args: argparse.Namespace) -> int:
    if not 1 <= args.page <= MOST_PAGES:
        return fail(f"--page: from 1 to {MOST_PAGES}")
    agency = " ".join(args.agency).strip()
    if not agency:
        return fail("the agency is empty")

    async def action(repo: Repository, _args: argparse.Namespace) -> int:
        incident = await repo.open_incident(
            agency,
            wanted=args.page,
            chaplains=args.chaplains,
            opened_by=None,
            now=datetime.now(UTC),
        )
        if incident is None:
            return fail(f"an incident is already open for {agency!r}", EXIT_FAILED)
        members = await repo.members()
        if not any(m.agency_hash == incident.agency_hash for m in members):
            print(f"note: no member is in an agency named {agency!r}; check the spelling")
        days = (config.incidents if config else IncidentsConfig()).auto_close_days
        print(
            f"opened {incident.id} for {incident.agency}: the running bot pages {args.page}"
            " helpers from other agencies and keeps every coordinator told; it closes by"
            f" itself after {days} days"
        )
        return EXIT_OK

    return with_repository(config, args, action)


def _list(config: Config | None, args: argparse.Namespace) -> int:
    days = (config.incidents if config else IncidentsConfig()).auto_close_days

    async def action(repo: Repository, _args: argparse.Namespace) -> int:
        from bot.storage.incidents import PageState  # noqa: PLC0415 - keeps `--help` light

        incidents = await repo.incidents()
        if not incidents:
            print("no incident is open")
        for incident in incidents:
            pages = await repo.pages(incident.id)
            states = [p.state for p in pages]
            accepted = states.count(PageState.ACCEPTED)
            waiting = states.count(PageState.PENDING) + states.count(PageState.EXPIRED)
            named = []
            for page in pages:
                if page.state is PageState.ACCEPTED and page.helper_id in incident.named:
                    helper = await repo.member(page.helper_id)
                    if helper is not None:
                        named.append(f"{helper.display_name or '-'} (#{helper.id})")
            print(
                f"{incident.id}  {incident.agency}  opened {incident.opened_on.isoformat()}"
                f"  on call {accepted} of {incident.wanted}"
                f", said no {states.count(PageState.DECLINED)}, no answer yet {waiting}"
                + (f", named: {', '.join(named)}" if named else "")
                + ("  (closing)" if incident.closing else "")
                + f"  closes by itself {incident.closes_on(days).isoformat()}"
            )
        return EXIT_OK

    return with_repository(config, args, action)


def _close(config: Config | None, args: argparse.Namespace) -> int:
    assert config is not None  # noqa: S101 - registered with needs_config
    which = " ".join(args.which).strip()

    async def action(repo: Repository, _args: argparse.Namespace) -> int:
        from bot.runlock import DatabaseBusyError, RunLock  # noqa: PLC0415

        incidents = await repo.incidents()
        agency_hash = repo.agency_hash(which)
        found = next((i for i in incidents if i.id == which or i.agency_hash == agency_hash), None)
        if found is None:
            return fail(f"no open incident {which!r} (see `peerline incident list`)", EXIT_FAILED)
        await repo.mark_closing(found.id)
        lock = RunLock(config.storage.path)
        try:
            lock.acquire(exclusive=True, busy_message="the bot is running")
        except DatabaseBusyError:
            print(
                f"closing {found.id} ({found.agency}): the running bot tells the helpers and"
                " coordinators, then deletes it"
            )
            return EXIT_OK
        try:
            metrics = await repo.close_incident(found.id)
            await repo.fold_wal()
        finally:
            lock.release()
        accepted = metrics.pages_accepted if metrics is not None else 0
        print(
            f"closed {found.id} ({found.agency}); {accepted} on call. The bot is not running:"
            " nobody was told"
        )
        return EXIT_OK

    return with_repository(config, args, action)
