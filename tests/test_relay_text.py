"""Splitting long text for Telegram, whose limits count UTF-16 units (an emoji is two)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from handlers.thread import MAX_CHUNK, split_text, units


def test_emoji_count_twice() -> None:
    assert units("a\U0001f600") == 3


@given(st.text(alphabet=st.sampled_from(["a", " ", "\n", "\u00e9", "\U0001f600"]), max_size=9000))
def test_pieces_fit_and_keep_every_word(text: str) -> None:
    pieces = split_text(text)
    assert all(units(piece) <= MAX_CHUNK for piece in pieces)
    assert "".join(text.split()) == "".join("".join(pieces).split())


def test_long_emoji_text_is_split_by_units_not_characters() -> None:
    text = "\U0001f600" * 3000  # 3,000 characters, 6,000 units
    pieces = split_text(text)
    assert len(pieces) == 2
    assert all(units(piece) <= MAX_CHUNK for piece in pieces)
