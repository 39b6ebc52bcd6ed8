"""`peerline check`: is the config, and the key it names, usable?"""

from __future__ import annotations

import argparse

from bot.cli.common import EXIT_OK, Commands, fail
from bot.config import Config
from crypto import KeyFileError


def register(commands: Commands) -> None:
    commands.command(
        "check", "validate the config file and key; say exactly what is wrong", _check
    )


def _check(config: Config | None, _args: argparse.Namespace) -> int:
    assert config is not None  # noqa: S101 - registered with needs_config
    from bot.app import load_key  # noqa: PLC0415 - keeps `--help` free of the app's imports

    try:
        load_key(config)
    except (KeyFileError, ValueError) as exc:
        return fail(str(exc))
    print(f"{config.source}: OK")
    return EXIT_OK
