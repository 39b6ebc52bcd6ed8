"""`peerline run` and `peerline demo`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3

from bot.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Commands, fail
from bot.config import Config
from bot.filemodes import UnsafeFileError
from crypto import KeyFileError

log = logging.getLogger(__name__)


def register(commands: Commands) -> None:
    commands.command("run", "run the bot until Ctrl-C or SIGTERM", _run)
    commands.command(
        "demo",
        "play a scripted scenario on a local stand-in; no accounts",
        _demo,
        needs_config=False,
    )


def _demo(_config: Config | None, _args: argparse.Namespace) -> int:
    from bot.demo import main as demo_main  # noqa: PLC0415 - only the demo needs it

    return demo_main()


def _run(config: Config | None, _args: argparse.Namespace) -> int:
    assert config is not None  # noqa: S101 - registered with needs_config
    from bot.app import App  # noqa: PLC0415 - keeps other commands free of platform imports
    from bot.logs import setup_logging  # noqa: PLC0415

    setup_logging(config.logging.level, config.logging.file)
    try:
        asyncio.run(App(config).run())
    except (KeyFileError, ValueError, UnsafeFileError) as exc:
        log.error("could not start: %s", exc)
        return fail(str(exc), EXIT_USAGE)
    except Exception as exc:
        reason = start_failure(exc)
        log.error("could not start: %s", reason)
        return fail(reason, EXIT_FAILED)
    return EXIT_OK


def start_failure(exc: Exception) -> str:
    """One line for a failed start. Messages are our own or SQLite's; none carries the token
    (the Telegram transport re-raises without PTB's message, which can)."""
    from bot.app import TransportFailedError  # noqa: PLC0415
    from bot.runlock import DatabaseBusyError  # noqa: PLC0415
    from bot.storage.db import SchemaTooNewError  # noqa: PLC0415
    from bot.storage.integrity import KeyCheckMissingError, KeyMismatchError  # noqa: PLC0415
    from bot.transports.telegram import TelegramStartError  # noqa: PLC0415
    from crypto import DecryptionError  # noqa: PLC0415

    if isinstance(
        exc,
        TelegramStartError
        | SchemaTooNewError
        | TransportFailedError
        | KeyMismatchError
        | KeyCheckMissingError
        | DatabaseBusyError,
    ):
        return str(exc)
    if isinstance(exc, DecryptionError):
        return "the master key does not open this database (wrong key file?)"
    if isinstance(exc, sqlite3.Error | OSError):
        return f"the database or log file could not be used ({type(exc).__name__}: {exc})"
    return f"Peerline could not start ({type(exc).__name__})"
