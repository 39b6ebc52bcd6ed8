"""The repository: every read and write of the database goes through here.

Only this module calls crypto/ for data at rest. Platform ids are sealed (AEAD bound to table,
column and row) with a keyed hash beside them for lookup; nothing here can hold message content.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import aiosqlite

from bot.model import MemberId
from bot.storage import db, integrity, rekey
from bot.storage.followups import FollowupStore, new_followup_id
from bot.storage.incidents import IncidentStore
from bot.storage.invites import InviteProblem, InviteSpec, InviteStore
from bot.storage.members import MemberStore
from bot.storage.metrics import MetricsStore, RequestMetrics
from bot.storage.requests import (
    OfferRecord,
    OfferState,
    RequestRecord,
    RequestStore,
    new_request_id,
)
from bot.storage.roster import MemberChange, RosterStore
from bot.storage.spills import SpillStore
from bot.storage.threads import ThreadStore, new_thread_id
from bot.storage.updates import UpdateStore
from crypto import Vault

__all__ = [
    "InviteProblem",
    "InviteSpec",
    "MemberChange",
    "OfferRecord",
    "OfferState",
    "Repository",
    "RequestMetrics",
    "RequestRecord",
    "new_followup_id",
    "new_request_id",
    "new_thread_id",
]

log = logging.getLogger(__name__)


class Repository(
    RosterStore,
    InviteStore,
    MemberStore,
    RequestStore,
    ThreadStore,
    MetricsStore,
    FollowupStore,
    IncidentStore,
    UpdateStore,
    SpillStore,
):
    """Every read and write of the database, one store per concern over one connection."""

    @classmethod
    async def open(cls, path: Path | str, vault: Vault) -> Repository:
        """Open (and upgrade) the database; a wrong master key is refused before any write."""

        async def verify(conn: aiosqlite.Connection, version: int) -> None:
            await integrity.verify_key(conn, vault, version)

        async def adopt(conn: aiosqlite.Connection) -> None:
            await integrity.adopt_legacy_rows(conn, vault)

        async def cover_load_caps(conn: aiosqlite.Connection) -> None:
            await integrity.cover_load_caps(conn, vault)

        hooks = {
            integrity.KEY_CHECK_VERSION: adopt,
            integrity.LOAD_CAP_MAC_VERSION: cover_load_caps,
        }
        conn = await db.connect(path, before_migrate=verify, inside_step=hooks)
        repo = cls(conn, vault)
        await repo.seal_missing_records()
        if str(path) != ":memory:":
            repo.remember_members(Path(path))
        return repo

    async def rekey(self, new: Vault, pause: Callable[[str], None]) -> rekey.RekeyCounts:
        """Re-seal everything under `new` in one transaction; this repository keeps the old
        key, so close it afterwards and open the database again with the new one."""
        async with self._lock:
            counts = await rekey.reseal_all(self._conn, self._vault, new, pause)
            # Old-key ciphertexts leave the WAL too.
            await db.checkpoint(self._conn)
        return counts

    async def close(self) -> None:
        if self._members is not None:
            self._members.close()
            self._members = None
        async with self._lock:
            if not await db.checkpoint(self._conn):
                log.warning("WAL checkpoint busy at close; the next start folds it")
            await self._conn.close()

    async def set_active(self, member_id: MemberId, active: bool) -> bool:
        """Revoke or restore. A revoked member keeps no check-ins, and no helper's follow-up
        links them to anyone (whichever path revokes: the CLI, a roster import, the chat)."""
        changed = await super().set_active(member_id, active)
        if changed and not active:
            await self.forget_member_followups(member_id)
        return changed

    @property
    def total_changes(self) -> int:
        """Rows changed since the connection opened (to prove a path writes nothing)."""
        return int(self._conn.total_changes)
