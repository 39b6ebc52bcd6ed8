"""Peerline's cryptography: the only package that touches PyNaCl."""

from __future__ import annotations

from crypto.invites import (
    INVITE_ALPHABET,
    INVITE_LENGTH,
    format_invite_code,
    new_invite_code,
    normalize_invite_code,
)
from crypto.keys import (
    MASTER_KEY_BYTES,
    KeyFileError,
    MasterKey,
    generate_key_file,
    load_master_key,
    master_key_from_text,
)
from crypto.vault import DecryptionError, MacField, ThreadKey, Vault

__all__ = [
    "INVITE_ALPHABET",
    "INVITE_LENGTH",
    "MASTER_KEY_BYTES",
    "DecryptionError",
    "KeyFileError",
    "MacField",
    "MasterKey",
    "ThreadKey",
    "Vault",
    "format_invite_code",
    "generate_key_file",
    "load_master_key",
    "master_key_from_text",
    "new_invite_code",
    "normalize_invite_code",
]
