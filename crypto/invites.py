"""Invite codes: random, easy to read aloud and type, and valid as a Telegram deep-link parameter.

20 symbols from a 30-symbol alphabet is 20 * log2(30) ~ 98 bits. The alphabet leaves out 0 O 1 I
L U, so nothing looks or sounds like something else, and is all A-Z 0-9, so the display form
(5 groups of 4 joined by "-") fits Telegram's start parameter (A-Z a-z 0-9 _ -, at most 64).
"""

from __future__ import annotations

import secrets

INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
INVITE_LENGTH = 20
INVITE_GROUP = 4

_ALPHABET_SET = frozenset(INVITE_ALPHABET)
# Phones turn typed hyphens into dashes; accept them all as separators.
_SEPARATORS = str.maketrans("", "", "-\u2010\u2011\u2012\u2013\u2014\u2212")
_MAX_INPUT_CHARS = 200


def new_invite_code() -> str:
    """A fresh code in display form, e.g. "K7QH-3MZT-9PWA-XR4E-6NCD"."""
    return format_invite_code(
        "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))
    )


def format_invite_code(body: str) -> str:
    """Group a 20-character code body as "XXXX-XXXX-XXXX-XXXX-XXXX"."""
    return "-".join(body[i : i + INVITE_GROUP] for i in range(0, len(body), INVITE_GROUP))


def normalize_invite_code(text: str) -> str | None:
    """The 20-character code body in `text`, or None if it cannot be a code.

    Case, spaces and hyphens do not matter. Look-alikes (O for 0, I for 1) are not mapped: the
    alphabet has neither, so a code containing them was mistyped.
    """
    if len(text) > _MAX_INPUT_CHARS:
        return None
    body = "".join(text.translate(_SEPARATORS).split())
    # Check ASCII before upper(): some non-ASCII letters upper-case to ASCII (U+017F -> "S").
    if not body.isascii():
        return None
    body = body.upper()
    if len(body) != INVITE_LENGTH or not _ALPHABET_SET.issuperset(body):
        return None
    return body
