"""Tests for the crypto package: keys, the vault, thread keys, signed data and invite codes."""

from __future__ import annotations

import base64
import math
import os
import pickle
import re
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import (
    INVITE_ALPHABET,
    INVITE_LENGTH,
    MASTER_KEY_BYTES,
    DecryptionError,
    KeyFileError,
    MasterKey,
    Vault,
    generate_key_file,
    load_master_key,
    master_key_from_text,
    new_invite_code,
    normalize_invite_code,
)

KEY_A = MasterKey(bytes(range(32)))
KEY_B = MasterKey(bytes(range(1, 33)))
VAULT = Vault(KEY_A)
TELEGRAM_START_PARAM = re.compile(r"[A-Za-z0-9_-]{1,64}")


# -- keys -------------------------------------------------------------------------------------


def test_generate_key_file_writes_base64_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    generate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert text.endswith("\n")
    assert len(base64.b64decode(text, validate=False)) == MASTER_KEY_BYTES
    loaded = load_master_key(path)
    assert loaded.subkey("seal") == master_key_from_text(text).subkey("seal")


def test_generate_key_file_makes_a_new_key_each_time(tmp_path: Path) -> None:
    generate_key_file(tmp_path / "a")
    generate_key_file(tmp_path / "b")
    assert (tmp_path / "a").read_text() != (tmp_path / "b").read_text()


def test_generate_key_file_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    generate_key_file(path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists; refusing to overwrite"):
        generate_key_file(path)
    assert path.read_bytes() == before


def _write_key_file(path: Path, content: bytes, mode: int = 0o600) -> None:
    path.write_bytes(content)
    path.chmod(mode)


def test_load_rejects_wrong_length(tmp_path: Path) -> None:
    path = tmp_path / "short.key"
    _write_key_file(path, base64.b64encode(b"x" * 12) + b"\n")
    with pytest.raises(KeyFileError, match="expected 32 bytes, found 12"):
        load_master_key(path)


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o604, 0o620])
def test_load_rejects_files_others_can_access(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "open.key"
    _write_key_file(path, base64.b64encode(os.urandom(32)) + b"\n", mode)
    with pytest.raises(KeyFileError, match=rf"mode {mode:04o}\); run chmod 600"):
        load_master_key(path)


def test_load_rejects_missing_file_and_non_base64(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        load_master_key(tmp_path / "missing.key")
    path = tmp_path / "raw.key"
    _write_key_file(path, b"\xff" * 32)
    with pytest.raises(KeyFileError, match="not valid base64"):
        load_master_key(path)


def test_key_errors_are_one_line_and_never_echo_the_key() -> None:
    secret = base64.b64encode(b"s" * 31).decode()
    with pytest.raises(KeyFileError) as info:
        master_key_from_text(secret, source="PEERLINE_MASTER_KEY")
    message = str(info.value)
    assert message == "PEERLINE_MASTER_KEY: expected 32 bytes, found 31"
    assert "\n" not in message
    assert secret not in message
    with pytest.raises(KeyFileError, match="not valid base64"):
        master_key_from_text("not base64!")


def test_master_key_repr_has_no_key_material() -> None:
    raw = b"\xab" * 32
    key = MasterKey(raw)
    for shown in (repr(key), str(key), f"{key}"):
        assert "<redacted>" in shown
        assert raw.hex() not in shown
        assert base64.b64encode(raw).decode() not in shown
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_master_key_checks_length_and_purpose() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        MasterKey(b"short")
    with pytest.raises(ValueError, match="purpose"):
        KEY_A.subkey("much-too-long-purpose")
    with pytest.raises(ValueError, match="purpose"):
        KEY_A.subkey("")


def test_subkeys_differ_by_purpose_and_master() -> None:
    purposes = ["ident", "lookup", "invite", "wrap", "choice", "seal"]
    subkeys = {KEY_A.subkey(p) for p in purposes} | {KEY_B.subkey(p) for p in purposes}
    assert len(subkeys) == 2 * len(purposes)
    assert all(len(k) == 32 for k in subkeys)
    assert KEY_A.subkey("wrap") == MasterKey(bytes(range(32))).subkey("wrap")


# -- vault: fields ----------------------------------------------------------------------------


def test_seal_open_round_trip() -> None:
    sealed = VAULT.seal(b"chat 12345", table="people", column="address", row="7")
    assert b"chat 12345" not in sealed
    assert VAULT.open(sealed, table="people", column="address", row="7") == b"chat 12345"
    text = VAULT.seal_text("Grüße", table="people", column="name")
    assert VAULT.open_text(text, table="people", column="name") == "Grüße"


def test_seal_is_randomized() -> None:
    one = VAULT.seal(b"same", table="t", column="c")
    two = VAULT.seal(b"same", table="t", column="c")
    assert one != two


@pytest.mark.parametrize(
    ("table", "column", "row"),
    [("people", "agency", "7"), ("people", "address", "8"), ("threads", "address", "7")],
)
def test_ciphertext_moved_elsewhere_fails(table: str, column: str, row: str) -> None:
    sealed = VAULT.seal(b"value", table="people", column="address", row="7")
    with pytest.raises(DecryptionError):
        VAULT.open(sealed, table=table, column=column, row=row)


def test_ciphertext_with_row_does_not_open_without_it() -> None:
    sealed = VAULT.seal(b"value", table="people", column="address", row="7")
    with pytest.raises(DecryptionError):
        VAULT.open(sealed, table="people", column="address")


def test_table_and_column_cannot_contain_slash() -> None:
    # Otherwise ("a/b", "c") and ("a", "b/c") would share associated data.
    with pytest.raises(ValueError, match="'/'"):
        VAULT.seal(b"x", table="a/b", column="c")
    with pytest.raises(ValueError, match="'/'"):
        VAULT.seal(b"x", table="a", column="")


def test_tampered_or_truncated_ciphertext_fails() -> None:
    sealed = VAULT.seal(b"value", table="t", column="c")
    for i in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[i] ^= 0x01
        with pytest.raises(DecryptionError):
            VAULT.open(bytes(tampered), table="t", column="c")
    for cut in (0, 1, 24, 39, len(sealed) - 1):
        with pytest.raises(DecryptionError):
            VAULT.open(sealed[:cut], table="t", column="c")


def test_other_master_key_cannot_open() -> None:
    sealed = VAULT.seal(b"value", table="t", column="c")
    with pytest.raises(DecryptionError):
        Vault(KEY_B).open(sealed, table="t", column="c")


def test_open_text_rejects_non_utf8() -> None:
    sealed = VAULT.seal(b"\xff\xfe", table="t", column="c")
    with pytest.raises(DecryptionError):
        VAULT.open_text(sealed, table="t", column="c")


UTF8 = st.characters(codec="utf-8")
NAMES = st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=20)


@given(
    plaintext=st.binary(max_size=2048), table=NAMES, column=NAMES, row=st.text(UTF8, max_size=40)
)
def test_seal_open_round_trip_property(
    plaintext: bytes, table: str, column: str, row: str
) -> None:
    sealed = VAULT.seal(plaintext, table=table, column=column, row=row)
    assert VAULT.open(sealed, table=table, column=column, row=row) == plaintext


@given(text=st.text(UTF8, max_size=500))
def test_seal_text_round_trip_property(text: str) -> None:
    sealed = VAULT.seal_text(text, table="t", column="c")
    assert VAULT.open_text(sealed, table="t", column="c") == text


def test_vault_repr_is_redacted() -> None:
    assert repr(VAULT) == "Vault(<redacted>)"


# -- vault: lookup and invite hashes ----------------------------------------------------------


def test_lookup_hash_is_deterministic_and_separated() -> None:
    one = VAULT.lookup_hash(b"telegram:42", purpose="address")
    assert len(one) == 32
    assert one == Vault(MasterKey(bytes(range(32)))).lookup_hash(b"telegram:42", purpose="address")
    assert one != VAULT.lookup_hash(b"telegram:42", purpose="agency")
    assert one != VAULT.lookup_hash(b"telegram:43", purpose="address")
    assert one != Vault(KEY_B).lookup_hash(b"telegram:42", purpose="address")


def test_lookup_purpose_is_validated() -> None:
    with pytest.raises(ValueError, match="purpose"):
        VAULT.lookup_hash(b"x", purpose="")
    with pytest.raises(ValueError, match="purpose"):
        VAULT.lookup_hash(b"x", purpose="seventeen-chars-x")


def test_invite_hash_is_deterministic_and_keyed() -> None:
    code = normalize_invite_code(new_invite_code())
    assert code is not None
    assert VAULT.invite_hash(code) == VAULT.invite_hash(code)
    assert len(VAULT.invite_hash(code)) == 32
    assert VAULT.invite_hash(code) != Vault(KEY_B).invite_hash(code)
    assert VAULT.invite_hash(code) != VAULT.lookup_hash(code.encode(), purpose="invite")


# -- thread keys ------------------------------------------------------------------------------


def test_thread_key_wrap_unwrap() -> None:
    key = VAULT.new_thread_key()
    wrapped = VAULT.wrap_thread_key(key, "thread-1")
    unwrapped = VAULT.unwrap_thread_key(wrapped, "thread-1")
    sealed = key.seal(b"hello", b"msg-1")
    assert unwrapped.open(sealed, b"msg-1") == b"hello"


def test_thread_key_unwrap_fails_for_other_thread_or_master() -> None:
    wrapped = VAULT.wrap_thread_key(VAULT.new_thread_key(), "thread-1")
    with pytest.raises(DecryptionError):
        VAULT.unwrap_thread_key(wrapped, "thread-2")
    with pytest.raises(DecryptionError):
        Vault(KEY_B).unwrap_thread_key(wrapped, "thread-1")
    with pytest.raises(DecryptionError):
        VAULT.unwrap_thread_key(wrapped[:-1], "thread-1")


def test_thread_key_seal_binds_aad_and_key() -> None:
    key = VAULT.new_thread_key()
    sealed = key.seal(b"hello", b"msg-1")
    with pytest.raises(DecryptionError):
        key.open(sealed, b"msg-2")
    with pytest.raises(DecryptionError):
        VAULT.new_thread_key().open(sealed, b"msg-1")


def test_thread_key_repr_is_redacted() -> None:
    key = VAULT.new_thread_key()
    assert repr(key) == "ThreadKey(<redacted>)"
    assert str(key) == "ThreadKey(<redacted>)"
    with pytest.raises(TypeError):
        pickle.dumps(key)


# -- signed button data -----------------------------------------------------------------------


def test_sign_verify() -> None:
    alice = VAULT.lookup_hash(b"telegram:1", purpose="address")
    bob = VAULT.lookup_hash(b"telegram:2", purpose="address")
    tag = VAULT.sign("accept:thread-9", alice)
    assert len(tag) == 12
    assert re.fullmatch(r"[A-Za-z0-9_-]{12}", tag)
    assert VAULT.verify("accept:thread-9", alice, tag)
    assert not VAULT.verify("accept:thread-9", bob, tag)
    assert not VAULT.verify("accept:thread-8", alice, tag)
    assert not Vault(KEY_B).verify("accept:thread-9", alice, tag)
    altered = ("B" if tag[0] == "A" else "A") + tag[1:]
    assert not VAULT.verify("accept:thread-9", alice, altered)
    assert not VAULT.verify("accept:thread-9", alice, tag[:-1])
    assert not VAULT.verify("accept:thread-9", alice, "")
    assert not VAULT.verify("accept:thread-9", alice, "é" * 12)


def test_sign_audience_and_payload_boundary_is_unambiguous() -> None:
    assert VAULT.sign("bc", b"a") != VAULT.sign("c", b"ab")


@given(payload=st.text(UTF8, max_size=64), audience=st.binary(max_size=64))
def test_sign_verify_property(payload: str, audience: bytes) -> None:
    tag = VAULT.sign(payload, audience)
    assert VAULT.verify(payload, audience, tag)


# -- invite codes -----------------------------------------------------------------------------

CODE_RE = re.compile(
    r"[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}(-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}){4}"
)


def test_invite_alphabet() -> None:
    assert INVITE_ALPHABET == "23456789ABCDEFGHJKMNPQRSTVWXYZ"
    assert len(INVITE_ALPHABET) == len(set(INVITE_ALPHABET)) == 30
    assert not set("0O1ILU") & set(INVITE_ALPHABET)


def test_invite_entropy_is_at_least_80_bits() -> None:
    bits = INVITE_LENGTH * math.log2(len(INVITE_ALPHABET))
    assert bits >= 80
    assert bits > 98


def test_new_invite_code_format() -> None:
    codes = {new_invite_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert CODE_RE.fullmatch(code)
        assert TELEGRAM_START_PARAM.fullmatch(code)
        assert set(code.replace("-", "")) <= set(INVITE_ALPHABET)


def test_new_invite_codes_use_the_whole_alphabet() -> None:
    seen = set("".join(new_invite_code() for _ in range(200)).replace("-", ""))
    assert seen == set(INVITE_ALPHABET)


@pytest.mark.parametrize(
    "text",
    [
        "K7QH-3MZT-9PWA-XR4E-6NCD",
        "k7qh-3mzt-9pwa-xr4e-6ncd",
        "K7QH 3MZT 9PWA XR4E 6NCD",
        "  k7qh3mzt9pwaxr4e6ncd\n",
        "K7QH—3MZT–9PWA-XR4E-6NCD",
        "K7 QH3M-ZT9P WAXR-4E6NCD",
    ],
)
def test_normalize_accepts_friendly_forms(text: str) -> None:
    assert normalize_invite_code(text) == "K7QH3MZT9PWAXR4E6NCD"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "K7QH-3MZT-9PWA-XR4E-6NC",
        "K7QH-3MZT-9PWA-XR4E-6NCDE",
        "K7QH-3MZT-9PWA-XR4E-6NC0",
        "K7QH-3MZT-9PWA-XR4E-6NCO",
        "K7QH-3MZT-9PWA-XR4E-6NC1",
        "K7QH-3MZT-9PWA-XR4E-6NCI",
        "K7QH-3MZT-9PWA-XR4E-6NCL",
        "K7QH-3MZT-9PWA-XR4E-6NCU",
        "K7QH_3MZT_9PWA_XR4E_6NCD",
        "K7QH-3MZT-9PWA-XR4E-6NCſ",
        "Ｋ7QH-3MZT-9PWA-XR4E-6NCD",
        "K" * 10_000,
    ],
)
def test_normalize_rejects_bad_codes(text: str) -> None:
    assert normalize_invite_code(text) is None


@given(st.data())
def test_normalize_new_code_identity(data: st.DataObject) -> None:
    code = new_invite_code()
    body = code.replace("-", "")
    assert normalize_invite_code(code) == body
    assert normalize_invite_code(body) == body
    assert normalize_invite_code(body.lower()) == body
    spaced = data.draw(st.sampled_from([" ", "-", "  ", " - "])).join(body)
    assert normalize_invite_code(spaced) == body


@given(st.text(max_size=40))
def test_normalize_output_is_always_a_valid_body(text: str) -> None:
    body = normalize_invite_code(text)
    if body is not None:
        assert len(body) == INVITE_LENGTH
        assert set(body) <= set(INVITE_ALPHABET)
