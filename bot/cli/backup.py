"""`peerline backup FILE`: an online, consistent copy of the database (the key stays apart)."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from bot.cli.common import EXIT_FAILED, EXIT_OK, Commands, fail
from bot.config import Config


def register(commands: Commands) -> None:
    backup = commands.command(
        "backup",
        "copy the database while the bot runs (consistent, after a checkpoint); never the key",
        _backup,
    )
    backup.add_argument("file", type=Path, metavar="FILE", help="a new file (never overwritten)")


def _backup(config: Config | None, args: argparse.Namespace) -> int:
    assert config is not None  # noqa: S101 - registered with needs_config
    from bot.storage.health import backup_database  # noqa: PLC0415

    target: Path = args.file
    if target.exists():
        return fail(f"{target} already exists; choose a new file name")
    key_file = config.crypto.key_file
    if key_file is not None and target.absolute().parent == key_file.absolute().parent:
        return fail(
            f"{target} would sit beside the master key; put backups somewhere the key is not"
        )
    try:
        result = backup_database(config.storage.path, target)
    except FileNotFoundError:
        return fail(f"no database at {config.storage.path}")
    except FileExistsError:
        return fail(f"{target} already exists; choose a new file name")
    except (sqlite3.Error, OSError) as exc:
        return fail(f"the backup failed ({type(exc).__name__}: {exc})", EXIT_FAILED)
    print(
        f"wrote {result.path} ({result.size // 1024} KiB, schema v{result.schema_version}, "
        "integrity_check ok)."
    )
    print(
        "The master key is NOT in it. Keep the key apart from the backups (another place, "
        "another person): without the key the backup cannot be read, and with it anyone can."
    )
    return EXIT_OK
