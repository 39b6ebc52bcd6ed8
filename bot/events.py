"""Normalized events and replies: the seam between platform adapters and conversation logic.

Adapters turn platform updates into `Incoming` and render `Reply` objects; nothing on the far side
of this module knows which platform a person is on.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class Platform(enum.StrEnum):
    TELEGRAM = "telegram"
    SIGNAL = "signal"


@dataclass(frozen=True, slots=True)
class Address:
    """Where a person is reached: a platform and that platform's private-chat id.

    Lives in memory only; at rest it is encrypted (see crypto/). Its repr is redacted so an
    address never lands in a log line or a traceback by accident.
    """

    platform: Platform
    chat_id: str

    def __repr__(self) -> str:
        return f"Address({self.platform.value}, <redacted>)"

    __str__ = __repr__


# The media kinds a transport reports in `Incoming.media_kind` (Telegram's own names), and
# which of them carry a caption. Anything else arrives as UNSUPPORTED_MEDIA.
MEDIA_KINDS = (
    "photo",
    "voice",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contact",
    "video_note",
    "animation",
)
CAPTIONED_MEDIA = frozenset({"photo", "voice", "audio", "video", "document", "animation"})
UNSUPPORTED_MEDIA = "unsupported"


class Kind(enum.StrEnum):
    TEXT = "text"
    COMMAND = "command"
    CHOICE = "choice"
    MEDIA = "media"
    EDIT = "edit"  # a person edited an earlier message of theirs
    DELETE = "delete"  # a person deleted an earlier message of theirs for everyone
    IDENTITY = "identity"  # the person's end-to-end identity key changed (Signal safety number)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One thing a person did: typed text, a command, pressed a button, sent media, or edited.

    `text` is message content: it is relayed, never stored or logged. For Kind.MEDIA it is the
    caption (possibly empty); `media_kind` is "unsupported" for content that cannot be relayed
    (a poll, dice, a game, a story, ...). For Kind.EDIT, `message_id` is the edited message and
    `text` its new text, or its new caption when `media_kind` names the media it carries. For
    Kind.DELETE, `message_id` is the message its sender deleted.
    """

    address: Address
    kind: Kind
    text: str = ""
    command: str = ""  # lower-case, without the slash or a @botname suffix
    args: str = ""  # the rest of a command line
    choice: str = ""  # opaque choice data for Kind.CHOICE
    media_kind: str = ""  # "photo", "voice", ..., "unsupported" for Kind.MEDIA (and Kind.EDIT)
    message_id: str = ""  # platform message id, for replies and edits
    reply_to_id: str = ""  # id of the bot message this one replies to, if any
    language: str = ""  # the person's app language (e.g. "es-MX"), where the platform says

    def __repr__(self) -> str:
        return (
            f"Incoming({self.address!r}, {self.kind.value}, command={self.command!r}, "
            f"media={self.media_kind!r})"
        )


@dataclass(frozen=True, slots=True)
class Choice:
    """An abstract option. Telegram renders a button; Signal a numbered line.

    `data` is what comes back in `Incoming.choice`; it is signed by the handler layer.
    """

    label: str
    data: str


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    choices: tuple[Choice, ...] = ()
    columns: int = 1  # buttons per row, where the platform draws buttons
    # How to answer the choices where there are no buttons (Signal), in the reader's language.
    hints: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Sent:
    """A handle on a message the bot sent, so it can be edited later."""

    address: Address
    message_id: str


@dataclass(frozen=True, slots=True)
class MediaFile:
    """One file of a piece of media, held in memory only while it is being relayed."""

    data: bytes = field(repr=False)
    content_type: str = "application/octet-stream"
    file_name: str = ""


@dataclass(frozen=True, slots=True)
class Media:
    """Media fetched from one platform to be sent on another: never written to disk.

    `kind` is one of MEDIA_KINDS; a Signal message may carry several files.
    """

    kind: str
    files: tuple[MediaFile, ...]


class DeliveryError(Exception):
    """A message could not be delivered.

    `permanent` is True when retrying cannot help (the person blocked the bot, the account is
    gone); False for a transient failure that survived the transport's own retries. `stopped`
    is True when the transport is shutting down.
    """

    def __init__(self, reason: str, *, permanent: bool, stopped: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.stopped = stopped  # the transport is stopping: nothing more will go out


class NotRelayableError(DeliveryError):
    """This content cannot be carried to the recipient's platform (a sticker, a location, ...)."""

    def __init__(self, reason: str = "cannot cross platforms") -> None:
        super().__init__(reason, permanent=False)


class Messenger(Protocol):
    """How handlers speak. Implemented by each transport and by the multi-platform router."""

    async def send(self, to: Address, reply: Reply) -> Sent: ...

    async def edit(self, sent: Sent, reply: Reply) -> None: ...

    async def copy(
        self, to: Address, source: Address, message_id: str, caption: str | None = None
    ) -> Sent:
        """Relay a person's own message (any media kind) from `source` into `to`, without a
        "forwarded from" header. `caption`, when given, replaces the caption of media that
        carry one."""
        ...

    async def edit_copy(self, sent: Sent, text: str, *, is_caption: bool) -> None:
        """Edit a message relayed by `copy`: its text, or its caption when `is_caption`."""
        ...

    async def delete(self, sent: Sent) -> None:
        """Delete a message the bot sent, for everyone in that chat."""
        ...

    async def accept_identity(self, address: Address) -> None:
        """Trust the person's new identity key so messages reach them again (no-op where the
        platform has no such keys)."""
        ...


EventSink = Callable[[Incoming], Awaitable[None]]

# A command menu: (command without the slash, what it does), in the order shown.
Menu = tuple[tuple[str, str], ...]


@runtime_checkable
class SupportsMenus(Protocol):
    """A platform with a command menu (Telegram; Signal has none)."""

    async def set_menu(self, to: Address, commands: Sequence[tuple[str, str]]) -> None:
        """Show `to` these commands in their chat's own menu; empty removes their own menu, so
        the default one (strangers': /start) shows again."""
        ...


class Transport(Messenger, Protocol):
    """A platform adapter: receives updates into a sink and sends replies."""

    @property
    def platform(self) -> Platform: ...

    async def start(self, sink: EventSink) -> None:
        """Connect and begin delivering events to `sink`; return once receiving has started."""
        ...

    async def stop(self) -> None:
        """Stop receiving and close connections. Safe to call twice."""
        ...

    @property
    def failed(self) -> asyncio.Event:
        """Set when the transport can no longer receive (e.g. its token was revoked)."""
        ...

    async def fetch_media(self, source: Address, message_id: str) -> Media:
        """The media of a message a person just sent, read into memory (for another platform).
        Raises NotRelayableError for content that has no file (a location, a sticker, ...)."""
        ...

    async def send_media(self, to: Address, media: Media, caption: str | None) -> Sent:
        """Send media fetched from another platform; `caption` as plain text."""
        ...
