"""`peerline demo`'s story runs to its end on the stand-ins, incident scene included, and
leaves none of what was typed on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.demo import leaks, scenario


async def test_the_demo_story_plays_to_the_end_and_leaves_nothing_typed_on_disk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    said = await scenario(tmp_path / "demo")
    shown = capsys.readouterr().out
    assert "Alex taps: Accept" in shown
    assert "Closed: Springfield PD. 1 helper was on call." in shown
    assert "The critical incident at Springfield PD is closed." in shown
    assert len(said) == 4
    assert leaks(tmp_path, said) == []
