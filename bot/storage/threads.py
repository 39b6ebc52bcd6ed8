"""Live threads: each sealed under its own key, shredded at the end."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

from bot.model import (
    Category,
    MemberId,
    RequestId,
    Thread,
    ThreadId,
)
from bot.storage.base import StoreBase, moment_or_none, stamp

# Threads opened before v10 kept their opening time in a clear column, now dropped.
_BEFORE_V10 = datetime(2000, 1, 1, tzinfo=UTC)


def new_thread_id() -> ThreadId:
    return ThreadId("t" + secrets.token_hex(8))


class ThreadStore(StoreBase):
    def _thread_row(self, record: Thread) -> tuple[str, bytes, bytes]:
        """A thread as stored: everything but its id sealed under its own fresh key, its
        opening time included (no clear column dates a conversation)."""
        key = self._vault.new_thread_key()
        body = json.dumps(
            {
                "tag": record.tag,
                "officer": record.officer_id,
                "helper": record.helper_id,
                "alias": record.officer_alias,
                "category": record.category.value,
                "urgent": record.urgent,
                "outside": record.outside_agency,
                "opened": stamp(record.opened_at),
            }
        ).encode()
        return (
            record.id,
            self._vault.wrap_thread_key(key, record.id),
            key.seal(body, record.id.encode()),
        )

    async def save_thread(self, record: Thread) -> None:
        await self._exec(
            "INSERT INTO threads (id, wrapped_key, sealed) VALUES (?, ?, ?)",
            self._thread_row(record),
        )

    async def claim_request(
        self, request_id: RequestId, thread: Thread, replaces: ThreadId | None = None
    ) -> bool:
        """The accept, all or nothing: the request (and its offers) go, the new thread is
        stored, and a thread being handed over is shredded. False when someone else claimed
        the request first (nothing changes)."""
        row = self._thread_row(thread)
        async with self._writing() as transaction:
            cursor = await self._conn.execute("DELETE FROM requests WHERE id = ?", (request_id,))
            if cursor.rowcount != 1:
                transaction.abandon()
                return False
            await self._conn.execute(
                "INSERT INTO threads (id, wrapped_key, sealed) VALUES (?, ?, ?)",
                row,
            )
            if replaces is not None:
                await self._conn.execute("DELETE FROM threads WHERE id = ?", (replaces,))
        # The request row (and any handed-over thread) must leave the WAL: the caller folds it
        # once the accept's other writes are done, or the clock tick does.
        self._checkpoint_due = True
        return True

    async def live_threads(self) -> list[Thread]:
        found = []
        for row in await self._all("SELECT * FROM threads ORDER BY rowid"):
            thread_id = ThreadId(row["id"])
            key = self._vault.unwrap_thread_key(row["wrapped_key"], thread_id)
            body = json.loads(key.open(row["sealed"], thread_id.encode()))
            found.append(
                Thread(
                    id=thread_id,
                    tag=body["tag"],
                    officer_id=MemberId(body["officer"]),
                    helper_id=MemberId(body["helper"]),
                    officer_alias=body["alias"],
                    category=Category(body["category"]),
                    urgent=bool(body["urgent"]),
                    opened_at=moment_or_none(body.get("opened")) or _BEFORE_V10,
                    outside_agency=bool(body.get("outside", False)),
                )
            )
        return found

    async def shred_thread(self, thread_id: ThreadId) -> None:
        """Destroy a thread's key and sealed record, then push the deletion out of the WAL."""
        await self._exec("DELETE FROM threads WHERE id = ?", (thread_id,))
        await self.fold_wal()
