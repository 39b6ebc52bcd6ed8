"""The relay engine: which live thread a message belongs to. In memory only, never on disk.

Decisions are pure: `route` looks at the engine's state and returns where a message goes; the
handlers carry it out. Message content never passes through here.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

from bot.catalog import Catalog
from bot.model import MemberId, Thread, ThreadId

_TAG_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"


def _words(listed: str) -> list[str]:
    return [word.strip() for word in listed.split(",") if word.strip()]


def new_alias(text: Catalog) -> str:
    """A random nickname from the catalog's word lists (in that catalog's language)."""
    adjective = secrets.choice(_words(text.alias_adjectives))
    noun = secrets.choice(_words(text.alias_nouns))
    return text.alias_pattern.format(adjective=adjective, noun=noun)


def alias_from(digest: bytes, text: Catalog) -> str:
    """A nickname picked by the first bytes of a keyed hash (for a stable pseudonym)."""
    adjectives, nouns = _words(text.alias_adjectives), _words(text.alias_nouns)
    return text.alias_pattern.format(
        adjective=adjectives[digest[0] % len(adjectives)], noun=nouns[digest[1] % len(nouns)]
    )


def new_tag(taken: set[str]) -> str:
    while True:
        tag = "".join(secrets.choice(_TAG_ALPHABET) for _ in range(3))
        if tag not in taken:
            return tag


@dataclass(frozen=True, slots=True)
class Deliver:
    thread: Thread
    to: MemberId


@dataclass(frozen=True, slots=True)
class NotInThread:
    pass


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """Several threads could be meant; the sender must say which. Never guessed."""

    threads: tuple[Thread, ...]


@dataclass(frozen=True, slots=True)
class UnknownReply:
    """A reply to a message no live thread knows (an ended conversation, a bot notice, or
    anything from before a restart): where it belongs cannot be told, so it goes nowhere."""


Route = Deliver | NotInThread | Ambiguous | UnknownReply

# Per thread, how many relayed messages are remembered for replies and edits.
_REMEMBERED_PER_THREAD = 500


@dataclass
class _Memory:
    """What one thread remembers, in memory only, and only while it is open."""

    # (sender, their message id) -> ids of the relayed copies in the recipient's chat
    copies: OrderedDict[tuple[MemberId, str], tuple[str, ...]] = field(default_factory=OrderedDict)
    # (recipient, id of a message the bot put in their chat) for replies to it
    shown: OrderedDict[tuple[MemberId, str], None] = field(default_factory=OrderedDict)


@dataclass
class RelayEngine:
    threads: dict[ThreadId, Thread] = field(default_factory=dict)
    _by_member: dict[MemberId, list[ThreadId]] = field(default_factory=dict)
    _memory: dict[ThreadId, _Memory] = field(default_factory=dict)
    _shown_in: dict[tuple[MemberId, str], ThreadId] = field(default_factory=dict)
    _seq: int = 0
    _activity: dict[ThreadId, int] = field(default_factory=dict)  # last relayed to the helper
    _selected: dict[MemberId, tuple[ThreadId, int]] = field(default_factory=dict)

    def open(self, thread: Thread) -> None:
        self.threads[thread.id] = thread
        self._memory[thread.id] = _Memory()
        for member_id in (thread.officer_id, thread.helper_id):
            self._by_member.setdefault(member_id, []).append(thread.id)

    def close(self, thread_id: ThreadId) -> Thread | None:
        """Forget a thread and every message id it remembered."""
        thread = self.threads.pop(thread_id, None)
        if thread is None:
            return None
        memory = self._memory.pop(thread_id, _Memory())
        for key in memory.shown:
            self._shown_in.pop(key, None)
        self._activity.pop(thread_id, None)
        for member_id in (thread.officer_id, thread.helper_id):
            ids = self._by_member.get(member_id, [])
            if thread_id in ids:
                ids.remove(thread_id)
            if not ids:
                self._by_member.pop(member_id, None)
            if self._selected.get(member_id, (None, 0))[0] == thread_id:
                del self._selected[member_id]
        return thread

    def threads_of(self, member_id: MemberId) -> list[Thread]:
        return [self.threads[t] for t in self._by_member.get(member_id, [])]

    def load(self, member_id: MemberId) -> int:
        return len(self._by_member.get(member_id, []))

    def loads(self) -> dict[MemberId, int]:
        return {member: len(ids) for member, ids in self._by_member.items()}

    def taken_tags(self) -> set[str]:
        return {t.tag for t in self.threads.values()}

    def by_tag(self, member_id: MemberId, tag: str) -> Thread | None:
        wanted = tag.strip().lstrip("#").upper()
        return next((t for t in self.threads_of(member_id) if t.tag == wanted), None)

    def select(self, member_id: MemberId, thread_id: ThreadId) -> None:
        """The member chose this thread (/switch): their next plain messages go there."""
        self._selected[member_id] = (thread_id, self._seq)

    def selected(self, member_id: MemberId) -> Thread | None:
        """The explicitly chosen thread, while nothing new has arrived from another one."""
        chosen, at = self._selected.get(member_id, (None, 0))
        if chosen is None or chosen not in self.threads:
            return None
        others = (t for t in self._by_member.get(member_id, []) if t != chosen)
        if any(self._activity.get(t, 0) > at for t in others):
            return None
        return self.threads[chosen]

    def route(self, sender: MemberId, reply_to_id: str = "") -> Route:
        """Where a message from `sender` goes: the thread of the message they replied to, else
        their only thread, else the one they chose with /switch if nothing arrived since."""
        threads = self.threads_of(sender)
        if not threads:
            return NotInThread()
        if reply_to_id:
            # A reply names its thread; one that names none is never sent to a guess.
            replied = self._shown_in.get((sender, reply_to_id))
            if replied is None and (own := self.copies(sender, reply_to_id)) is not None:
                replied = own[0].id  # a reply to (a Signal quote of) their own relayed message
            if replied is None or replied not in self.threads:
                return UnknownReply()
            return Deliver(self.threads[replied], self.threads[replied].other(sender))
        if len(threads) == 1:
            return Deliver(threads[0], threads[0].other(sender))
        chosen = self.selected(sender)
        if chosen is not None:
            return Deliver(chosen, chosen.other(sender))
        return Ambiguous(tuple(threads))

    def relayed(
        self,
        thread_id: ThreadId,
        sender: MemberId,
        source_id: str,
        recipient: MemberId,
        copy_ids: tuple[str, ...],
    ) -> None:
        """Remember a relayed message: for replies to it, and for relaying edits of it."""
        memory = self._memory.get(thread_id)
        if memory is None:
            return
        if source_id:
            memory.copies[(sender, source_id)] = copy_ids
        for copy_id in copy_ids:
            memory.shown[(recipient, copy_id)] = None
            self._shown_in[(recipient, copy_id)] = thread_id
        while len(memory.copies) > _REMEMBERED_PER_THREAD:
            memory.copies.popitem(last=False)
        while len(memory.shown) > _REMEMBERED_PER_THREAD:
            old, _ = memory.shown.popitem(last=False)
            self._shown_in.pop(old, None)
        thread = self.threads.get(thread_id)
        if thread is not None and recipient == thread.helper_id:
            self._seq += 1
            self._activity[thread_id] = self._seq

    def shown(self, thread_id: ThreadId, member: MemberId, message_id: str) -> None:
        """A bot message about this thread (e.g. "You're connected") in `member`'s chat: a reply
        to it belongs to this thread."""
        memory = self._memory.get(thread_id)
        if memory is None or not message_id:
            return
        memory.shown[(member, message_id)] = None
        self._shown_in[(member, message_id)] = thread_id

    def copies(self, sender: MemberId, source_id: str) -> tuple[Thread, tuple[str, ...]] | None:
        """The thread and relayed copies of a message `sender` sent, if still remembered."""
        for thread in self.threads_of(sender):
            found = self._memory[thread.id].copies.get((sender, source_id))
            if found is not None:
                return thread, found
        return None
