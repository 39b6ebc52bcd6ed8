"""Creating invite codes (used by the CLI and the demo)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from bot.config import Config
from bot.model import HELPER_ROLES, Role
from bot.storage.repository import InviteSpec, Repository
from crypto import new_invite_code, normalize_invite_code


class InviteError(ValueError):
    """An invite request that cannot be honoured; str() is one line for the operator."""


async def create_invites(
    repo: Repository,
    *,
    role: Role,
    agency: str | None,
    count: int,
    valid_for: timedelta,
    certified_until: date | None,
    now: datetime,
) -> list[str]:
    """Create `count` single-use codes and return them; only their keyed hashes are stored."""
    if not 1 <= count <= 500:
        raise InviteError("--count must be between 1 and 500")
    if valid_for <= timedelta(0):
        raise InviteError("--expires must be a positive duration, e.g. 7d")
    if role in HELPER_ROLES and certified_until is None:
        raise InviteError(
            f"a {role.value} invite needs --certified-until YYYY-MM-DD "
            "(the date their peer-support certification runs out)"
        )
    if role is Role.FAMILY and not (agency and agency.strip()):
        # Their officer's agency is the conflict to avoid: without it nothing keeps a family
        # member's request away from that officer's colleagues (or the officer).
        raise InviteError("a family invite needs --agency: the agency of their officer")
    if certified_until is not None and certified_until < now.date():
        raise InviteError("--certified-until is in the past")
    spec = InviteSpec(
        role=role,
        agency=agency.strip() if agency and agency.strip() else None,
        expires_at=now + valid_for,
        certified_until=certified_until,
    )
    codes = []
    for _ in range(count):
        code, normalized = fresh_code()
        await repo.create_invite(normalized, spec, now)
        codes.append(code)
    return codes


def fresh_code() -> tuple[str, str]:
    """A new invite code as printed, and as stored (normalized, then hashed by the store)."""
    code = new_invite_code()
    normalized = normalize_invite_code(code)
    assert normalized is not None  # noqa: S101 - a fresh code always normalizes
    return code, normalized


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


def signal_link(number: str) -> str:
    """Opens a chat with the bot in Signal; the person then sends the code as it is."""
    return f"https://signal.me/#p/{number}"


def invite_links(config: Config, code: str) -> list[tuple[str, str]]:
    """(platform, deep link) for every platform configured to take a code from a link."""
    links = []
    if config.telegram.enabled and config.telegram.bot_username:
        links.append(("Telegram", deep_link(config.telegram.bot_username, code)))
    if config.signal.enabled and config.signal.number:
        # The same link for every invite: it opens the bot's chat; the code is then sent.
        links.append(("Signal", signal_link(config.signal.number)))
    return links
