"""Where logs go: a file only when one is set (reopened after logrotate moves it), else stderr,
without timestamps when systemd's journal takes stderr."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.logs import setup_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_set_file_takes_every_line_and_survives_logrotate(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "logs" / "peerline.log"
    setup_logging("INFO", log_file, env={})
    assert log_file.stat().st_mode & 0o077 == 0
    logging.getLogger("bot.test").info("before rotation")
    log_file.rename(tmp_path / "logs" / "peerline.log.1")  # what logrotate does
    logging.getLogger("bot.test").info("after rotation")
    assert "before rotation" in (tmp_path / "logs" / "peerline.log.1").read_text("utf-8")
    fresh = log_file.read_text("utf-8")
    assert "after rotation" in fresh and "before rotation" not in fresh
    assert capfd.readouterr().err == ""  # the file only


def test_without_a_file_stderr_and_the_journal_gets_no_second_timestamp(
    capfd: pytest.CaptureFixture[str],
) -> None:
    setup_logging("INFO", None, env={})
    logging.getLogger("bot.test").warning("to the console")
    err = capfd.readouterr().err
    assert err.endswith("WARNING bot.test: to the console\n") and err[:4].isdigit()
    setup_logging("INFO", None, env={"JOURNAL_STREAM": "8:12345"})
    logging.getLogger("bot.test").warning("to the journal")
    assert capfd.readouterr().err == "WARNING bot.test: to the journal\n"
