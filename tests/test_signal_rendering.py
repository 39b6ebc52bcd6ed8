"""Signal has no buttons: how choices look, and what counts as a command."""

from __future__ import annotations

import pytest

from bot.events import Choice, Reply
from bot.transports.signal import SignalTransport, render


def test_choices_become_numbered_lines_and_the_hints_follow() -> None:
    reply = Reply("Who would you like?", (Choice("A peer", "x.1"), Choice("A chaplain", "x.2")))
    text = render(reply, choose_hint="Send the number.", crisis_hint="Crisis: send crisis.")
    assert text.splitlines() == [
        "Who would you like?",
        "",
        "1. A peer",
        "2. A chaplain",
        "Send the number.",
        "Crisis: send crisis.",
    ]
    assert "x.1" not in text  # the signed choice data stays on our side


def test_a_rating_scale_is_one_line_and_plain_text_is_untouched() -> None:
    scale = Reply("Rate it", tuple(Choice(str(n), f"r.{n}") for n in range(1, 6)))
    assert render(scale).splitlines()[-1] == "1   2   3   4   5"
    assert render(Reply("just words")) == "just words"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/help", ("help", "")),
        ("/switch ABC", ("switch", "ABC")),
        ("/START code", ("start", "code")),
        ("help", ("help", "")),
        ("Crisis!", ("crisis", "")),
        (" end. ", ("end", "")),
        ("end it", None),
        ("help me please", None),
        ("helpful", None),
        ("I need help", None),
    ],
)
def test_commands_with_or_without_the_slash(text: str, expected: tuple[str, str] | None) -> None:
    transport = SignalTransport(
        "127.0.0.1:8080", "+14155550100", commands=["help", "crisis", "end", "switch", "start"]
    )
    assert transport._command(text) == expected


def test_a_crisis_word_in_another_language_is_the_crisis_command() -> None:
    transport = SignalTransport(
        "127.0.0.1:8080",
        "+14155550100",
        commands=["help", "crisis"],
        command_words={"Auxilio": "crisis"},
    )
    assert transport._command("¡auxilio!".lstrip("¡")) == ("crisis", "")
    assert transport._command("auxilio por favor") is None  # more words: said, not asked
