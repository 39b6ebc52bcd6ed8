"""The relay engine: which live thread a message belongs to. In memory only, never on disk.

Decisions are pure: `route` looks at the engine's state and returns where a message goes; the
handlers carry it out. Message content never passes through here.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from bot.model import MemberId, Thread, ThreadId

_TAG_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
_ADJECTIVES = (
    "Amber", "Blue", "Cedar", "Copper", "Evening", "Granite", "Harbor", "Juniper", "Maple",
    "Meadow", "North", "Quiet", "River", "Silver", "Steady", "Summit", "Willow", "Winter",
)  # fmt: skip
_NOUNS = (
    "Badger", "Bear", "Crane", "Falcon", "Fox", "Hawk", "Heron", "Lynx", "Moose", "Otter",
    "Owl", "Raven", "Sparrow", "Stag", "Wolf", "Wren",
)  # fmt: skip


def new_alias() -> str:
    return f"{secrets.choice(_ADJECTIVES)} {secrets.choice(_NOUNS)}"


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


Route = Deliver | NotInThread


@dataclass
class RelayEngine:
    threads: dict[ThreadId, Thread] = field(default_factory=dict)
    _by_member: dict[MemberId, list[ThreadId]] = field(default_factory=dict)

    def open(self, thread: Thread) -> None:
        self.threads[thread.id] = thread
        for member_id in (thread.officer_id, thread.helper_id):
            self._by_member.setdefault(member_id, []).append(thread.id)

    def close(self, thread_id: ThreadId) -> Thread | None:
        thread = self.threads.pop(thread_id, None)
        if thread is None:
            return None
        for member_id in (thread.officer_id, thread.helper_id):
            ids = self._by_member.get(member_id, [])
            if thread_id in ids:
                ids.remove(thread_id)
            if not ids:
                self._by_member.pop(member_id, None)
        return thread

    def threads_of(self, member_id: MemberId) -> list[Thread]:
        return [self.threads[t] for t in self._by_member.get(member_id, [])]

    def load(self, member_id: MemberId) -> int:
        return len(self._by_member.get(member_id, []))

    def loads(self) -> dict[MemberId, int]:
        return {member: len(ids) for member, ids in self._by_member.items()}

    def taken_tags(self) -> set[str]:
        return {t.tag for t in self.threads.values()}

    def current(self, member_id: MemberId) -> Thread | None:
        """The member's most recently opened thread."""
        ids = self._by_member.get(member_id)
        return self.threads[ids[-1]] if ids else None

    def route(self, sender: MemberId) -> Route:
        thread = self.current(sender)
        if thread is None:
            return NotInThread()
        return Deliver(thread=thread, to=thread.other(sender))
