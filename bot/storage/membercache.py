"""Members read lately, in memory only, dropped the moment anything is committed to the database.

Every relayed message looks up its sender by address and its recipient by number; from the
database that is four statements through the connection's thread, a keyed hash, MAC checks and
AEAD opens each time, and profiling the relay (bench/relay_vs_bare.py) found it the largest
share of Peerline's own CPU per message. The records change rarely (a join, /available, a
revoke...), so a verified `Member` is kept here and served again while the database is
unchanged.

"Unchanged" is SQLite's `data_version` read through a second, read-only connection: it moves
whenever a transaction commits on ANY other connection, this process's own included, and other
processes too (`peerline roster revoke` while the bot runs), so no write path has to remember to
invalidate anything, and a record changed behind the bot's back (a copy edited without the key)
is read and checked again. The pragma reads the WAL index in shared memory: no thread hop, no
disk write. Nothing here is ever written anywhere; the entries are the same objects a lookup
returns, bounded in number.

The list of active members (all, or of some roles) is kept the same way, as one tuple: the
contact clock loads every helper per step and builds its routing index from them, which at
10,000 sealed members cost about 1.9 s of CPU a step (docs/benchmarks.md). While nothing is
committed the very same tuple is served again, so the index built from it can be kept too.

After a commit that list is not read again whole: every member row carries a change tag (the
`member_tags` table, migration 0017), a random number SQLite itself draws again on every change
of the row or of its supervision links, so no write path has to remember anything and another
process's change is seen too. `ActiveSnapshot` keeps the tags as last read with the verified
active members; the store then reads, opens and MAC-checks only the rows whose tag differs
(bot/storage/members.py), and everything when too many differ (a key rotation) or the schema
moved. A tag is no proof of anything: every row read is verified as before. A tag left
unchanged by someone writing the file without the key only keeps the version verified earlier
in memory, never an unverified one (as replaying an old row with its old MAC would), until the
next full read (a restart, a schema change).
"""

from __future__ import annotations

import logging
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from bot.model import Member, MemberId, Role

log = logging.getLogger(__name__)

_MAX_MEMBERS = 10_000
# Past this many changed rows (or this share of all rows) everything is read again: one
# statement over the table beats a long list of numbers.
_MOST_CHANGED = 256
_MOST_CHANGED_SHARE = 8


class ChangeWatch:
    """Whether anything was committed to the database file since the last look."""

    def __init__(self, path: Path) -> None:
        # timeout=0: never wait on a lock on the event loop; busy counts as changed.
        self._conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0, isolation_level=None
        )
        self._seen: int | None = None

    def changed(self) -> bool:
        try:
            row = self._conn.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error as exc:
            log.info("change check failed (%s); reading from the database", type(exc).__name__)
            self._seen = None
            return True
        version = int(row[0])
        if version == self._seen:
            return False
        self._seen = version
        return True

    def close(self) -> None:
        self._conn.close()


Pairs = list[tuple[int, int]]  # (bucket, sum of its tags) or (member number, tag), in order
Roles = frozenset[Role] | None
BUCKET_SHIFT = 6  # a bucket is the members whose number >> 6 is the same (member_tag_buckets)


def by_bucket(tags: Iterable[tuple[int, int]]) -> dict[int, dict[int, int]]:
    found: dict[int, dict[int, int]] = {}
    for member_id, tag in tags:
        found.setdefault(member_id >> BUCKET_SHIFT, {})[member_id] = tag
    return found


class ActiveSnapshot:
    """The active members as last read and verified, and every member row's change tag then
    (with the sums of the tags by bucket): what a read after a commit starts from. It reads
    the sums, the tags of the buckets whose sum moved, and the rows whose tag moved."""

    def __init__(self) -> None:
        self._buckets: Pairs | None = None  # None: read everything next time
        self._schema: int | None = None
        self._tags: dict[int, dict[int, int]] = {}  # bucket -> member number -> tag
        self._active: dict[MemberId, Member] = {}
        # Per roles: the tuple last served, and each member's place in it.
        self._served: dict[Roles, tuple[tuple[Member, ...], dict[MemberId, int]]] = {}
        # Member rows read (and verified) for the lists so far, and how many reads were of all.
        self.rows_read = 0
        self.full_reads = 0

    def buckets_changed(self, buckets: Pairs, schema: int) -> list[int] | None:
        """Buckets whose sum of tags moved (or that came or went) since the snapshot; None:
        read everything. Both lists are in bucket order, so a pair that differs names changed
        buckets (one more or less shifts all that follow, and names all of them)."""
        old = self._buckets
        if old is None or schema != self._schema:
            return None
        if buckets == old:
            return []
        differ = [(new, was) for new, was in zip(buckets, old, strict=False) if new != was]
        changed = {new[0] for new, _ in differ} | {was[0] for _, was in differ}
        changed.update(pair[0] for pair in buckets[len(old) :])
        changed.update(pair[0] for pair in old[len(buckets) :])
        return sorted(changed)

    def rows_changed(self, tags: dict[int, dict[int, int]]) -> list[int] | None:
        """Member numbers whose tag moved (or came, or went) in the buckets `tags` holds, read
        now; None: so many that one read of every member costs less."""
        changed: list[int] = []
        for bucket, now in tags.items():
            was = self._tags.get(bucket, {})
            changed.extend(n for n in now.keys() | was.keys() if now.get(n) != was.get(n))
        total = sum(map(len, self._tags.values()))
        if len(changed) > max(_MOST_CHANGED, total // _MOST_CHANGED_SHARE):
            return None
        return sorted(changed)

    def replace(
        self, buckets: Pairs | None, schema: int, tags: Pairs, active: Iterable[Member]
    ) -> None:
        """After a full read: `active` verified; `buckets` None when rows cannot be followed
        (the triggers are missing), so the next read is a full one again."""
        self._buckets, self._schema = buckets, schema
        self._tags = by_bucket(tags)
        self._active = {member.id: member for member in active}
        self._served.clear()

    def update(
        self,
        buckets: Pairs,
        tags: dict[int, dict[int, int]],
        changed: list[int],
        active: Iterable[Member],
    ) -> None:
        """After reading the `changed` rows of the buckets in `tags`: `active`, those of them
        active and verified."""
        self._buckets = buckets
        self._tags.update(tags)
        found = {member.id: member for member in active}
        before = {MemberId(n): self._active.pop(MemberId(n), None) for n in changed}
        self._active.update(found)
        for roles, (served, places) in list(self._served.items()):
            patch: dict[int, Member] = {}
            for member_id, was in before.items():
                now = found.get(member_id)
                was_in = was is not None and (roles is None or was.role in roles)
                now_in = now is not None and (roles is None or now.role in roles)
                if was_in and now_in and now is not None:
                    patch[places[member_id]] = now
                elif was_in or now_in:  # someone came or went: made again when asked for
                    del self._served[roles]
                    break
            else:
                if patch:
                    members = list(served)
                    for place, member in patch.items():
                        members[place] = member
                    self._served[roles] = (tuple(members), places)

    def active(self, roles: Roles) -> tuple[Member, ...]:
        """The active members of `roles`, by number: the very tuple served last time if none
        of them changed, so whatever was built from it may still be kept."""
        served = self._served.get(roles)
        if served is None:
            everyone = (self._active[key] for key in sorted(self._active))
            found = tuple(m for m in everyone if roles is None or m.role in roles)
            served = (found, {member.id: place for place, member in enumerate(found)})
            self._served[roles] = served
        return served[0]


class MemberCache:
    """Members by number and by address hash, valid while the database is unchanged.

    A lookup that misses returns the cache's generation; `keep` stores what was then read only
    if nothing was committed in between (else the read may predate the change)."""

    def __init__(self, watch: ChangeWatch, size: int = _MAX_MEMBERS) -> None:
        self._watch = watch
        self._size = size
        self._generation = 0
        self._by_id: OrderedDict[MemberId, Member] = OrderedDict()
        self._by_address: dict[bytes, MemberId] = {}
        self._address_of: dict[MemberId, bytes] = {}
        self._lists: dict[frozenset[Role] | None, tuple[Member, ...]] = {}
        # Outlives a commit: the next read of the lists starts from it.
        self.snapshot = ActiveSnapshot()
        # Active-member lists served from memory / read again (the bench reports the rate).
        self.list_hits = 0
        self.list_misses = 0

    def _fresh(self) -> int:
        if self._watch.changed():
            self.clear()
        return self._generation

    def clear(self) -> None:
        self._generation += 1
        self._by_id.clear()
        self._by_address.clear()
        self._address_of.clear()
        self._lists.clear()

    def get(self, member_id: MemberId) -> tuple[Member | None, int]:
        generation = self._fresh()
        member = self._by_id.get(member_id)
        if member is not None:
            self._by_id.move_to_end(member_id)
        return member, generation

    def by_address(self, address_hash: bytes) -> tuple[Member | None, int]:
        generation = self._fresh()
        member_id = self._by_address.get(address_hash)
        return (None, generation) if member_id is None else self.get(member_id)

    def keep(self, member: Member, address_hash: bytes, generation: int) -> None:
        """Remember a member read and verified since `generation` (its stored address hash)."""
        if self._fresh() != generation:
            return
        self._by_id[member.id] = member
        self._by_id.move_to_end(member.id)
        self._by_address[address_hash] = member.id
        self._address_of[member.id] = address_hash
        while len(self._by_id) > self._size:
            old, _ = self._by_id.popitem(last=False)
            self._by_address.pop(self._address_of.pop(old, b""), None)

    def active(self, roles: frozenset[Role] | None) -> tuple[tuple[Member, ...] | None, int]:
        """The active members of `roles` (None: everyone) as last kept, if still valid."""
        generation = self._fresh()
        found = self._lists.get(roles)
        if found is None:
            self.list_misses += 1
        else:
            self.list_hits += 1
        return found, generation

    def keep_active(
        self, roles: frozenset[Role] | None, members: tuple[Member, ...], generation: int
    ) -> None:
        """Remember the active members of `roles` read and verified since `generation`."""
        if self._fresh() == generation:
            self._lists[roles] = members

    def close(self) -> None:
        self.clear()
        self._watch.close()
