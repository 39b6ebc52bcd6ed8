"""The master key: generating and loading it, and deriving per-purpose subkeys from it."""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from pathlib import Path

import nacl.encoding
import nacl.hash
import nacl.utils

MASTER_KEY_BYTES = 32
SUBKEY_BYTES = 32

_PERSON_PREFIX = b"peerline:"
# BLAKE2b's personalization is at most 16 bytes; the prefix takes 9 of them.
_PURPOSE_RE = re.compile(r"[a-z]{1,7}")
# A key file holds one short line; anything much larger is not a key file.
_MAX_KEY_FILE_BYTES = 1024


class KeyFileError(Exception):
    """A key file or key text is missing, malformed or unsafe; the message is one line."""


class MasterKey:
    """The 32-byte master key. Only subkeys derived from it are ever used to encrypt or hash."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != MASTER_KEY_BYTES:
            raise ValueError(f"master key must be {MASTER_KEY_BYTES} bytes, got {len(key)}")
        self._key = bytes(key)

    def subkey(self, purpose: str) -> bytes:
        """Derive the 32-byte subkey for a fixed purpose such as "seal", "lookup" or "wrap"."""
        if not _PURPOSE_RE.fullmatch(purpose):
            raise ValueError(f"subkey purpose must be 1-7 lowercase ASCII letters: {purpose!r}")
        return nacl.hash.blake2b(
            b"",
            digest_size=SUBKEY_BYTES,
            key=self._key,
            person=_PERSON_PREFIX + purpose.encode("ascii"),
            encoder=nacl.encoding.RawEncoder,
        )

    def __repr__(self) -> str:
        return "MasterKey(<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        # Pickling would write the raw key wherever the pickle goes (caches, queues, crash dumps).
        raise TypeError("MasterKey cannot be pickled")


def master_key_from_text(text: str, *, source: str = "master key") -> MasterKey:
    """Decode base64 text of 32 bytes (e.g. PEERLINE_MASTER_KEY); `source` names it in errors."""
    try:
        raw = base64.b64decode(text.strip().encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        # `from None`: the decoder's context never needs to travel with key material nearby.
        raise KeyFileError(f"{source}: not valid base64") from None
    if len(raw) != MASTER_KEY_BYTES:
        raise KeyFileError(f"{source}: expected {MASTER_KEY_BYTES} bytes, found {len(raw)}")
    return MasterKey(raw)


def generate_key_file(path: Path) -> None:
    """Write a new random master key to `path` as base64 text, mode 0600; never overwrite."""
    text = base64.b64encode(nacl.utils.random(MASTER_KEY_BYTES)) + b"\n"
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise KeyFileError(f"key file {path} already exists; refusing to overwrite") from None
    except OSError as exc:
        raise KeyFileError(f"key file {path}: cannot create ({exc.strerror})") from None
    try:
        # The umask can only narrow the mode; pin it so the file is exactly 0600.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise KeyFileError(f"key file {path}: cannot write ({exc.strerror})") from None


def load_master_key(path: Path) -> MasterKey:
    """Read a key file written by `generate_key_file`; refuse it if others can access it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    except OSError as exc:
        raise KeyFileError(f"key file {path}: cannot open ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as src:
        # fstat the open file, not the path, so the checked file is the one read.
        info = os.fstat(src.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"key file {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"key file {path} is accessible to other users (mode {mode:04o}); run chmod 600"
            )
        data = src.read(_MAX_KEY_FILE_BYTES + 1)
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"key file {path}: too large to be a key file")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise KeyFileError(f"key file {path}: not valid base64") from None
    return master_key_from_text(text, source=f"key file {path}")
