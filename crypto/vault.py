"""Field encryption, keyed lookup hashes, thread keys and signed button data."""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Sequence

import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.secret
import nacl.utils

from crypto.keys import MasterKey

THREAD_KEY_BYTES = nacl.secret.Aead.KEY_SIZE
SIGNATURE_CHARS = 12

_OVERHEAD = nacl.secret.Aead.NONCE_SIZE + nacl.secret.Aead.MACBYTES
_CHECK_BYTES = 16
_SIGNATURE_BYTES = 9  # 72 bits; base64 of 9 bytes is exactly 12 characters, no padding
# Lookup purposes become the BLAKE2b personalization, which is at most 16 bytes.
_LOOKUP_PURPOSE_RE = re.compile(r"[A-Za-z0-9_.:-]{1,16}")
_NAME_RE = re.compile(r"[^/]+")


MacField = bytes | str | int | bool | None


class DecryptionError(Exception):
    """A ciphertext did not open: wrong key, wrong place, tampered or truncated."""


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    # Aead draws a random 24-byte nonce and prepends it; XChaCha20 nonces are big enough for that.
    return bytes(nacl.secret.Aead(key).encrypt(plaintext, aad))


def _open(key: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    if len(ciphertext) < _OVERHEAD:
        raise DecryptionError("ciphertext is too short")
    try:
        return nacl.secret.Aead(key).decrypt(ciphertext, aad)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise DecryptionError("ciphertext did not authenticate") from None


class ThreadKey:
    """A random 32-byte key for one conversation thread; stored only wrapped by the Vault."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != THREAD_KEY_BYTES:
            raise ValueError(f"thread key must be {THREAD_KEY_BYTES} bytes, got {len(key)}")
        self._key = bytes(key)

    @classmethod
    def generate(cls) -> ThreadKey:
        """A fresh random thread key."""
        return cls(nacl.utils.random(THREAD_KEY_BYTES))

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt with a random nonce; `aad` must be given again to open."""
        return _seal(self._key, plaintext, aad)

    def open(self, ciphertext: bytes, aad: bytes) -> bytes:
        """Decrypt and authenticate, or raise DecryptionError."""
        return _open(self._key, ciphertext, aad)

    def __repr__(self) -> str:
        return "ThreadKey(<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("ThreadKey cannot be pickled")


class Vault:
    """Everything the database needs from the master key, each use under its own subkey."""

    __slots__ = ("_check", "_choice", "_invite", "_lookup", "_mac", "_seal", "_wrap")

    def __init__(self, master: MasterKey) -> None:
        self._check = master.subkey("check")
        self._mac = master.subkey("mac")
        self._seal = master.subkey("seal")
        self._lookup = master.subkey("lookup")
        self._invite = master.subkey("invite")
        self._wrap = master.subkey("wrap")
        self._choice = master.subkey("choice")

    def __repr__(self) -> str:
        return "Vault(<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("Vault cannot be pickled")

    # -- integrity --------------------------------------------------------------------------

    def key_check(self) -> bytes:
        """A 16-byte value the database keeps to recognise its key: a keyed hash of a constant,
        from which the key cannot be recovered."""
        return nacl.hash.blake2b(
            b"peerline key check v1",
            digest_size=_CHECK_BYTES,
            key=self._check,
            encoder=nacl.encoding.RawEncoder,
        )

    def key_check_matches(self, stored: bytes) -> bool:
        return hmac.compare_digest(self.key_check(), bytes(stored))

    def mac(self, table: str, fields: Sequence[MacField]) -> bytes:
        """A 32-byte tag over a row's clear values, so a change without the key shows."""
        return nacl.hash.blake2b(
            _mac_message(table, fields),
            digest_size=32,
            key=self._mac,
            encoder=nacl.encoding.RawEncoder,
        )

    def mac_matches(self, table: str, fields: Sequence[MacField], tag: bytes | None) -> bool:
        if tag is None:
            return False
        return hmac.compare_digest(self.mac(table, fields), bytes(tag))

    # -- fields at rest ---------------------------------------------------------------------

    def seal(self, plaintext: bytes, *, table: str, column: str, row: str = "") -> bytes:
        """Encrypt a field value, bound to its table, column and (optionally) row."""
        return _seal(self._seal, plaintext, _field_aad(table, column, row))

    def open(self, ciphertext: bytes, *, table: str, column: str, row: str = "") -> bytes:
        """Decrypt a field value sealed for exactly this place, or raise DecryptionError."""
        return _open(self._seal, ciphertext, _field_aad(table, column, row))

    def seal_text(self, text: str, *, table: str, column: str, row: str = "") -> bytes:
        """`seal` for UTF-8 text."""
        return self.seal(text.encode("utf-8"), table=table, column=column, row=row)

    def open_text(self, ciphertext: bytes, *, table: str, column: str, row: str = "") -> str:
        """`open` for UTF-8 text."""
        plaintext = self.open(ciphertext, table=table, column=column, row=row)
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptionError("sealed value is not UTF-8 text") from None

    # -- equality lookups -------------------------------------------------------------------

    def lookup_hash(self, value: bytes, *, purpose: str) -> bytes:
        """A 32-byte keyed hash for finding rows by `value` without storing it in the clear.

        `purpose` (1-16 chars of A-Z a-z 0-9 _ . : -) separates uses, so the same value hashed
        as an "address" and as an "agency" cannot be linked.
        """
        if not _LOOKUP_PURPOSE_RE.fullmatch(purpose):
            raise ValueError(f"lookup purpose must be 1-16 of A-Z a-z 0-9 _ . : -: {purpose!r}")
        return nacl.hash.blake2b(
            value,
            digest_size=32,
            key=self._lookup,
            person=purpose.encode("ascii"),
            encoder=nacl.encoding.RawEncoder,
        )

    def invite_hash(self, normalized_code: str) -> bytes:
        """A 32-byte keyed hash of an invite code; pass the output of `normalize_invite_code`."""
        return nacl.hash.blake2b(
            normalized_code.encode("utf-8"),
            digest_size=32,
            key=self._invite,
            encoder=nacl.encoding.RawEncoder,
        )

    # -- thread keys ------------------------------------------------------------------------

    def new_thread_key(self) -> ThreadKey:
        """A fresh random thread key."""
        return ThreadKey.generate()

    def wrap_thread_key(self, key: ThreadKey, thread_id: str) -> bytes:
        """Encrypt a thread key for storage, bound to its thread id."""
        return _seal(self._wrap, key._key, _thread_aad(thread_id))

    def unwrap_thread_key(self, wrapped: bytes, thread_id: str) -> ThreadKey:
        """Recover a wrapped thread key, or raise DecryptionError."""
        raw = _open(self._wrap, wrapped, _thread_aad(thread_id))
        if len(raw) != THREAD_KEY_BYTES:
            raise DecryptionError("wrapped value is not a thread key")
        return ThreadKey(raw)

    # -- signed button data -----------------------------------------------------------------

    def sign(self, payload: str, audience: bytes) -> str:
        """A 12-character tag over `payload` for one recipient (`audience`: their lookup hash)."""
        # Length-prefix the audience so no (audience, payload) split can collide with another.
        message = len(audience).to_bytes(4, "big") + audience + payload.encode("utf-8")
        digest = nacl.hash.blake2b(
            message,
            digest_size=_SIGNATURE_BYTES,
            key=self._choice,
            encoder=nacl.encoding.RawEncoder,
        )
        return base64.urlsafe_b64encode(digest).decode("ascii")

    def verify(self, payload: str, audience: bytes, tag: str) -> bool:
        """True only if `tag` was made by `sign` for this payload and audience."""
        expected = self.sign(payload, audience).encode("ascii")
        return hmac.compare_digest(expected, tag.encode("utf-8", errors="replace"))


def _field_aad(table: str, column: str, row: str) -> bytes:
    # Table and column may not contain "/", so the joined string names exactly one place.
    if not _NAME_RE.fullmatch(table) or not _NAME_RE.fullmatch(column):
        raise ValueError("table and column must be non-empty and contain no '/'")
    return f"peerline/{table}/{column}/{row}".encode()


def _mac_message(table: str, fields: Sequence[MacField]) -> bytes:
    # Each value is typed and length-prefixed, so no two different rows encode the same way.
    parts = [_mac_part(table)]
    for value in fields:
        parts.append(_mac_part(value))
    return b"".join(parts)


def _mac_part(value: MacField) -> bytes:
    if value is None:
        return b"n"
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, int):
        data, kind = str(value).encode(), b"i"
    elif isinstance(value, str):
        data, kind = value.encode("utf-8"), b"s"
    else:
        data, kind = bytes(value), b"b"
    return kind + len(data).to_bytes(4, "big") + data


def _thread_aad(thread_id: str) -> bytes:
    return f"peerline/thread-key/{thread_id}".encode()
