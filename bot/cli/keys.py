"""`peerline keygen` and `peerline rotate-key`: the master key."""

from __future__ import annotations

import argparse

from bot.cli.common import EXIT_OK, Commands, fail
from bot.config import Config
from crypto import KeyFileError, generate_key_file


def register(commands: Commands) -> None:
    commands.command("keygen", "write a new master key file (never overwrites)", _keygen)
    rotate = commands.command(
        "rotate-key",
        "re-seal the database under a new master key (stop the bot first; safe to run again)",
        _rotate_key,
    )
    rotate.add_argument(
        "--abort", action="store_true", help="discard an unfinished rotation's new key"
    )


def _rotate_key(config: Config | None, args: argparse.Namespace) -> int:
    assert config is not None  # noqa: S101 - registered with needs_config
    from bot.keyrotation import command  # noqa: PLC0415 - only this command needs it

    return command(config, abort=args.abort)


def _keygen(config: Config | None, _args: argparse.Namespace) -> int:
    assert config is not None  # noqa: S101 - registered with needs_config
    if config.crypto.key_file is None:
        return fail("[crypto] key_file is not set")
    try:
        config.crypto.key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        generate_key_file(config.crypto.key_file)
    except KeyFileError as exc:
        return fail(str(exc))
    print(f"wrote {config.crypto.key_file} (mode 0600). Back it up somewhere safe.")
    return EXIT_OK
