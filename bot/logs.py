"""Logging set-up. Third-party loggers that would print tokens or message bodies are capped."""

from __future__ import annotations

import logging
import logging.handlers
import os
import traceback
from collections.abc import Mapping
from pathlib import Path

from bot.filemodes import create_private

# httpx logs every request URL at INFO, and a Bot API URL carries the bot token. PTB prints
# whole updates (other people's texts and ids included) at DEBUG, and at CRITICAL when it
# cannot parse a batch; our Telegram transport logs every failure itself (by type and place),
# so PTB is switched off at every level, CRITICAL included. signalbot logs sent texts at INFO,
# recipients at WARNING and tracebacks (which can quote a message) at ERROR; our Signal
# transport logs its own failures, so signalbot is off too. None of it may reach a log,
# whatever level the operator picks.
OFF = logging.CRITICAL + 1
_CAPPED = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "telegram": OFF,
    "signalbot": OFF,
    "apscheduler": logging.WARNING,
    "aiohttp.access": logging.WARNING,
    "websockets": logging.WARNING,
    "aiosqlite": logging.WARNING,
}

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The journal stamps each line itself.
JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"


def setup_logging(
    level: str = "INFO", file: Path | None = None, env: Mapping[str, str] | None = None
) -> None:
    """To `file` only when one is set, else to stderr (the journal, under systemd).

    The file handler reopens the file when logrotate has moved it away, so rotation needs no
    signal and no copytruncate. The file is created private (0600)."""
    env = os.environ if env is None else env
    handler: logging.Handler
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        create_private(file)
        handler = logging.handlers.WatchedFileHandler(file, encoding="utf-8")
        handler.setFormatter(logging.Formatter(FORMAT))
    else:
        handler = logging.StreamHandler()
        journal = bool(env.get("JOURNAL_STREAM"))  # set by systemd for a journal-bound stderr
        handler.setFormatter(logging.Formatter(JOURNAL_FORMAT if journal else FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    cap_noisy_loggers()


def cap_noisy_loggers() -> None:
    for name, floor in _CAPPED.items():
        logging.getLogger(name).setLevel(floor)


def where(exc: BaseException) -> str:
    """file:line of the innermost frame, for a log line that must not quote the exception:
    an exception's message can carry what a person wrote."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno}"
